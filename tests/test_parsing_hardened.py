"""Reply parsing on more real-world ugliness, and edits mode (old/new string pairs)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from autocomp.agents.base import AgentContext, CodeJob, Parent
from autocomp.agents.llm_agent import LLMAgent
from autocomp.agents.parsing import EditError, apply_edits, extract_code, extract_edits
from autocomp.config import LLMConfig, load_config
from autocomp.errors import UserError
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.llm.base import Response, Usage
from autocomp.store.runstore import RunStore
from autocomp.targets.registry import get_target, resolve_problem
from conftest import autocomp, faster, kernel, write_replay

FN = "void gemm(const float *A, const float *B, float *C) { C[0] = A[0] * B[0]; }"
PARENT = """#include <stddef.h>

void gemm(const float *A, const float *B, float *C) {
  for (int i = 0; i < 4; i++)
    C[i] = A[i] * B[i];
}
"""


def test_a_usage_example_after_the_kernel_is_not_taken_for_it() -> None:
    reply = f"```c\n{FN}\n```\nCall it like this:\n```c\nint main(void) {{ float a[1], b[1], c[1]; gemm(a, b, c); }}\n```"
    assert extract_code(reply, "gemm", C_LANGUAGE) == FN + "\n"


def test_several_blocks_the_last_definition_wins() -> None:
    older = FN.replace("A[0] * B[0]", "0")
    reply = f"Draft:\n```cpp\n{older}\n```\nFinal version:\n```C\n{FN}\n```\nThe end."
    assert extract_code(reply, "gemm", C_LANGUAGE) == FN + "\n"


def test_json_blocks_are_never_code() -> None:
    edits = json.dumps({"edits": [{"old_str": "void gemm(const float *A) {", "new_str": "x"}]})
    assert extract_code(f"```json\n{edits}\n```", "gemm", C_LANGUAGE) is None


def test_unclosed_reasoning_leaves_nothing() -> None:
    assert extract_code("<think>I should write ```c\nvoid gemm(void) {}\n``` maybe", "gemm", C_LANGUAGE) is None


def test_edits_apply_in_order_and_replace_all_occurrences() -> None:
    reply = "Plan noted.\n```json\n" + json.dumps({"edits": [
        {"old_str": "i < 4", "new_str": "i < 8"},
        {"old_str": "C[i] = A[i] * B[i];", "new_str": "C[i] = A[i] * B[i] + 0.0f;"},
    ]}) + "\n```"
    code = apply_edits(PARENT, extract_edits(reply))
    assert "i < 8" in code and "+ 0.0f" in code and "i < 4" not in code
    assert apply_edits("a b a", [("a", "c")]) == "c b c"


def test_edits_match_again_with_whitespace_normalised() -> None:
    edits = [("for (int i = 0; i < 4; i++)\n      C[i] = A[i] * B[i];", "for (int i = 0; i < 4; i++) C[i] = 0;")]
    code = apply_edits(PARENT, edits)
    assert "C[i] = 0;" in code and "A[i] * B[i]" not in code


def test_edits_accept_a_bare_list_and_other_key_names() -> None:
    assert extract_edits('[{"search": "a", "replace": "b"}]') == [("a", "b")]
    assert extract_edits('Here: {"edits": [{"old": "a", "new": ""}]} done') == [("a", "")]


@pytest.mark.parametrize("reply, message", [
    ("I would unroll the loop.", "no JSON object"),
    ('```json\n{"edits": [{"old_str": "a", "new_str": "b"\n```', "not valid JSON"),
    ('{"edits": []}', "non-empty"),
    ('{"edits": [{"old_str": "", "new_str": "b"}]}', "edit 1 of 1 needs a non-empty old_str"),
])
def test_unreadable_edits(reply: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        extract_edits(reply)


def test_an_edit_that_does_not_match_names_itself() -> None:
    with pytest.raises(EditError, match=r"edit 2 of 2: old_str not found .*'while \(1\)'"):
        apply_edits(PARENT, [("i < 4", "i < 8"), ("while (1)", "")])


class OneReply:
    is_llm = False

    def __init__(self, text: str, finish: str = "stop") -> None:
        self.text, self.finish = text, finish

    def complete(self, request: object) -> Response:
        return Response(text=self.text, usage=Usage(), finish_reason=self.finish)


def _implement(tmp_path: Path, text: str, edits: bool = True, finish: str = "stop") -> tuple[object, RunStore]:
    problem, target = resolve_problem("cpu/gemm-f32-256"), get_target("cpu")
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "cpu", {})
    replay = tmp_path / "unused.toml"
    replay.write_text("plan = []\ncode = []\n")
    agent = LLMAgent(f"replay::{replay}", AgentContext(problem, target, target.knowledge, store, None, None),
                     LLMConfig(edits=edits))
    agent.client.provider = OneReply(text, finish)  # type: ignore[assignment]
    return agent.implement(CodeJob(Parent(1, PARENT, ""), "go to 8", 0, 0, 0)), store


def test_edits_mode_in_the_agent(tmp_path: Path) -> None:
    good = '```json\n{"edits": [{"old_str": "i < 4", "new_str": "i < 8"}]}\n```'
    code, _ = _implement(tmp_path / "a", good)
    assert code.code is not None and "i < 8" in code.code  # type: ignore[attr-defined]
    failed, store = _implement(tmp_path / "b", '{"edits": [{"old_str": "no such text", "new_str": "x"}]}')
    assert failed.code is None and "the edits could not be applied: edit 1 of 1" in failed.error  # type: ignore[attr-defined]
    assert store.llm_calls()[0]["reply"]  # the reply itself is on record
    whole, _ = _implement(tmp_path / "c", f"The edits would be long, so:\n```c\n{FN}\n```")
    assert whole.code == FN + "\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize("text, finish, error", [
    ("```c\nvoid gemm(", "length", "truncated"),
    ("   \n", "stop", "empty reply"),
    ("<think>Let me think about tiling... and more", "stop", "only reasoning"),
])
def test_truncated_empty_and_reasoning_only_replies_are_recorded_failures(tmp_path: Path, text: str, finish: str,
                                                                          error: str) -> None:
    code, store = _implement(tmp_path, text, edits=False, finish=finish)
    assert code.code is None and error in code.error  # type: ignore[attr-defined]
    assert store.llm_calls()[0]["finish_reason"] == finish


@pytest.mark.slow
def test_optimize_in_edits_mode_records_edits_that_do_not_apply(tmp_path: Path, fast_config: Path) -> None:
    """`autocomp optimize --edits`: one reply's edits turn the loop into i-k-j (faster), the other's
    old_str is not in the parent, so that candidate fails with the reason on record."""
    initial, fast = resolve_problem("cpu/gemm-f32-256").initial_code, kernel("gemm256_fast.c")
    body = initial[initial.index("void gemm("):]
    good = {"edits": [{"old_str": body, "new_str": fast[fast.index("void gemm("):]}]}
    bad = {"edits": [{"old_str": "for (int n = 0; n < 4096; n++)", "new_str": ""}]}
    replay = write_replay(tmp_path / "r.toml", ["Chosen item: 1\nReorder to i-k-j.", "Chosen item: 1\nUnroll."],
                          [f"```json\n{json.dumps(good)}\n```", json.dumps(bad)])
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(fast_config), "--models", f"replay::{replay}",
                    "--edits", "--iterations", "1", "--plans", "2", "--codes", "1", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    assert faster(json.loads(proc.stdout)["best"], 1.5)
    db = sqlite3.connect(run_dir / "run.db")
    rows = db.execute("SELECT c.error, e.outcome FROM candidates c LEFT JOIN evaluations e ON e.code_hash = c.code_hash "
                      "WHERE c.origin = 'planned' ORDER BY c.id").fetchall()
    assert rows[0] == (None, "ok")
    assert rows[1][0].startswith("the edits could not be applied: edit 1 of 1: old_str not found")
    db.close()


def test_edits_and_skip_planning_do_not_combine() -> None:
    with pytest.raises(UserError, match="--edits"):
        load_config(None, {"models": "replay::a.toml", "llm": {"edits": True}, "search": {"skip_planning": True}})
