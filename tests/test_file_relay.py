"""The file relay (files::DIR): prompts written as files, replies read from files beside them.

The replies here are written by this test (tests/relay.py), a script and not a model.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from autocomp.llm.base import Message, ProviderError, ProviderSettings, Request
from autocomp.llm.files import FileRelayProvider
from autocomp.llm.registry import make_provider
from conftest import FAST_EVAL, autocomp, faster, kernel, reply_with_code, write_replay
from relay import RelayAnswerer, phase_of


def _request(text: str, phase: str = "plan") -> Request:
    return Request(model="relay", messages=[Message(role="user", content=text)], phase=phase)  # type: ignore[arg-type]


def test_a_request_becomes_a_prompt_file_and_the_reply_file_answers_it(tmp_path: Path, project_entry_points: None) -> None:
    provider = make_provider(f"files::{tmp_path / 'relay'}")
    assert isinstance(provider, FileRelayProvider)
    (tmp_path / "relay" / "req-0007.md").write_text("an earlier run's request")  # numbering continues after it
    (tmp_path / "relay" / "req-0007.reply").write_text("its reply")
    with RelayAnswerer(tmp_path / "relay", lambda phase, prompt: f"{phase}: {prompt.splitlines()[-1]}") as answerer:
        reply = provider.complete(_request("first line\nPLEASE PLAN THIS"))
    assert reply.text == "plan: PLEASE PLAN THIS" and reply.finish_reason == "stop"
    prompt = (tmp_path / "relay" / "req-0008.md").read_text()
    assert prompt.endswith("first line\nPLEASE PLAN THIS") and "req-0008.reply" in prompt.splitlines()[0]
    assert phase_of(tmp_path / "relay" / "req-0008.md") == "plan" and answerer.answered == [("req-0008.md", "plan")]


def test_no_reply_in_time_is_a_clear_failed_call(tmp_path: Path) -> None:
    provider = FileRelayProvider(str(tmp_path), ProviderSettings(name="files", timeout_s=0.3))
    start = time.monotonic()
    with pytest.raises(ProviderError) as exc:
        provider.complete(_request("nobody answers"))
    assert time.monotonic() - start < 5
    assert f"no reply in {tmp_path / 'req-0001.reply'} within 0.3 s" in str(exc.value) and "timeout_s" in str(exc.value)


def test_a_reply_still_being_written_is_not_read(tmp_path: Path) -> None:
    provider = FileRelayProvider(str(tmp_path), ProviderSettings(name="files", timeout_s=20))

    def write_slowly() -> None:
        while not (tmp_path / "req-0001.md").exists():
            time.sleep(0.02)
        with (tmp_path / "req-0001.reply").open("w") as f:
            f.write("first half, ")
            f.flush()
            time.sleep(0.3)  # less than the settle time: the reader must wait for the rest
            f.write("second half")

    writer = threading.Thread(target=write_slowly)
    writer.start()
    assert provider.complete(_request("x")).text == "first half, second half"
    writer.join()


@pytest.mark.slow
@pytest.mark.timing
def test_the_relay_serves_a_whole_search_mixed_with_another_provider(tmp_path: Path, project_entry_points: None) -> None:
    """Plans come through the files, code from a scripted provider: the run finds the fast kernel."""
    relay = tmp_path / "relay"
    replay = write_replay(tmp_path / "r.toml", [], [reply_with_code(kernel("gemm256_fast.c")),
                                                   reply_with_code(kernel("correct_ikj.c"))])
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST_EVAL)
    count = itertools.count()
    with RelayAnswerer(relay, lambda phase, prompt: f"Chosen item: 1\nPlan {next(count)}: reorder the loops.") as answerer:
        proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(cfg), "--models", f"files::{relay}",
                        "--code-models", f"replay::{replay}", "--iterations", "1", "--plans", "2", "--codes", "1",
                        "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert faster(out["best"], 1.2) and out["llm_calls"] == 4
    assert sorted(answerer.answered) == [("req-0001.md", "plan"), ("req-0002.md", "plan")]
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    assert db.execute("SELECT DISTINCT model FROM plans").fetchall() == [(f"files::{relay}",)]


@pytest.mark.slow
@pytest.mark.timing
def test_a_relay_nobody_answers_fails_its_calls_not_the_run(tmp_path: Path, project_entry_points: None) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST_EVAL + "[llm.providers.files]\ntimeout_s = 0.5\n")
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(cfg), "--models", f"files::{tmp_path / 'relay'}",
                    "--iterations", "1", "--plans", "2", "--codes", "1", "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "all 2 model calls failed" in out["stopped"] and "Traceback" not in proc.stderr
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    errors = [r[0] for r in db.execute("SELECT error FROM plans ORDER BY id")]
    assert len(errors) == 2 and all("no reply in" in e and "within 0.5 s" in e for e in errors)
