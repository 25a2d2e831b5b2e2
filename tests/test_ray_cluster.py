"""Evaluations on a real Ray cluster started on this machine: a head (one CPU, one timing core)
and a second node with its own resource label (`special`), both on 127.0.0.1 with their own
temp dirs, torn down at the end. The search itself runs in the real `autocomp` command.

Gemmini's modeled cycles are deterministic, so a run through Ray must give exactly the
candidates and verdicts of the same run on the local pool. The tests run in file order: the
last one kills the second node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from autocomp.proctree import kill_tree, tree
from conftest import assert_one_line_error, autocomp, kernel, needs_extra, reply_with_code, write_replay
from test_gemmini_target import FSM_512

pytestmark = [pytest.mark.slow, needs_extra("ray", "ray")]  # one xdist group: the module-scoped cluster

REPO = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).parent / "ray"
TUNER = ("gemmini/conv-3", "--models", "tuner", "--iterations", "1", "--beam", "2", "--plans", "3", "--codes", "1")


@dataclass
class Cluster:
    address: str
    base: Path  # every process of the cluster has this in its command line or descends from one that has

    def node_ids(self) -> dict[str, str]:
        """'head' / 'special' -> Ray node id, read from the cluster by a Ray client."""
        code = ("import json, ray; ray.init(address=%r, log_to_driver=False)\n"
                "print(json.dumps({('special' if 'special' in n['Resources'] else 'head'): n['NodeID'] "
                "for n in ray.nodes() if n['Alive']}))" % self.address)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    """Workers import autocomp from this checkout, as the driver does; a test cluster on
    127.0.0.1 needs no token (Ray would otherwise write one to ~/.ray); workers time at the
    default niceness, as the README says to start nodes."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_worker_niceness": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SMALL = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]


def _start_head(base: Path) -> str:
    port = _free_port()
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", *SMALL, '--resources={"timing_core": 1}',
                    f"--temp-dir={base}/head", "--include-dashboard=false"],
                   check=True, capture_output=True, env=_env(), timeout=180)
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cluster():
    base = Path(tempfile.mkdtemp(prefix="acray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    patch = pytest.MonkeyPatch()
    for name, value in _env().items():  # for the autocomp commands the tests run, too
        patch.setenv(name, value)
    try:
        address = _start_head(base)
        subprocess.run([str(RAY), "start", f"--address={address}", *SMALL, '--resources={"special": 1}',
                        f"--temp-dir={base}/special"], check=True, capture_output=True, env=_env(), timeout=180)
        yield Cluster(address, base)
    finally:
        kill_tree(str(base))
        shutil.rmtree(base, ignore_errors=True)
        patch.undo()


def _rows(run_dir: Path) -> tuple[list[tuple], dict[str, tuple]]:
    """(candidates by position key and code, evaluations by code: outcome and cycles)."""
    db = sqlite3.connect(run_dir / "run.db")
    cands = db.execute("SELECT key, code_hash, origin FROM candidates ORDER BY key").fetchall()
    evals = {h: (o, json.loads(d).get("cycles")) for h, o, d in db.execute("SELECT code_hash, outcome, details_json FROM evaluations")}
    db.close()
    return cands, evals


def _nodes(run_dir: Path) -> list[dict]:
    db = sqlite3.connect(run_dir / "run.db")
    nodes = [json.loads(d).get("node") for (d,) in db.execute("SELECT details_json FROM evaluations")]
    db.close()
    return nodes


def _ray(cluster: Cluster) -> tuple[str, ...]:
    return ("--executor", "ray", "--ray-address", cluster.address)


def _optimize(*args: str) -> dict:
    proc = autocomp("optimize", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_tuner_run_through_ray_gives_the_local_pools_candidates_and_verdicts(cluster: Cluster, tmp_path: Path,
                                                                              fast_config: Path) -> None:
    local = _optimize(*TUNER, "--config", str(fast_config), "--run-dir", str(tmp_path / "local"))
    remote = _optimize(*TUNER, "--config", str(fast_config), "--run-dir", str(tmp_path / "ray"), *_ray(cluster))
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert remote["best"] == local["best"] and remote["validation"]["details"]["cycles"] == local["validation"]["details"]["cycles"]
    ids = set(cluster.node_ids().values())
    assert all(n and n["id"] in ids and n["host"] for n in _nodes(tmp_path / "ray"))  # each says where it was measured
    assert all(n == {"host": n["host"]} for n in _nodes(tmp_path / "local"))


def _replay(tmp_path: Path) -> Path:
    broken = FSM_512.replace("tiled_matmul_auto(512, 512, 512", "tiled_matmul_auto(512, 512, 256")
    plans = ["Chosen item: 1\nUse the hardware loop instruction for the whole matrix.", "Chosen item: 2\nShrink K."]
    path = write_replay(tmp_path / "r.toml", plans * 2,
                        [reply_with_code(FSM_512), reply_with_code(broken), reply_with_code(FSM_512), reply_with_code(broken)])
    with path.open("a") as f:  # the broken kernel is repaired ([search] repair, default 1): no call fails, none repeats;
        f.write(f"repair = ['''\n{reply_with_code(FSM_512)}''']\n")  # iteration 2's repair is the same request, cached
    return path


REPLAY_ARGS = ("gemmini/gemm-512x512x512", "--iterations", "2", "--plans", "2", "--codes", "1", "--beam", "1")


def test_a_replay_model_run_through_ray_matches_the_local_pool_and_a_killed_run_resumes_without_asking_again(
        cluster: Cluster, tmp_path: Path, fast_config: Path) -> None:
    """A scripted (replay) model: same candidates and verdicts through Ray as locally. Then the
    same run through Ray is killed (SIGKILL, the driver's whole process) after its first
    evaluations, and `autocomp resume` finishes it: no model call twice, same result."""
    replay = _replay(tmp_path)
    models = ("--models", f"replay::{replay}", "--config", str(fast_config))
    local = _optimize(*REPLAY_ARGS, *models, "--run-dir", str(tmp_path / "local"))
    remote = _optimize(*REPLAY_ARGS, *models, "--run-dir", str(tmp_path / "ray"), *_ray(cluster))
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert [o for o, _ in _rows(tmp_path / "ray")[1].values()].count("wrong_answer") == 1
    assert remote["best"] == local["best"] and remote["llm_calls"] == local["llm_calls"]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", *REPLAY_ARGS, *models, "--run-dir",
                             str(killed), *_ray(cluster), "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and _count(killed, "evaluations") < 2:
            time.sleep(0.1)  # the root and a first candidate are stored
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    db = sqlite3.connect(killed / "run.db")
    calls_before = db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]
    db.close()
    resumed = autocomp("resume", str(killed), "--json")  # the stored [eval] says ray, at this address
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["best"] == local["best"] and _rows(killed) == _rows(tmp_path / "local")
    db = sqlite3.connect(killed / "run.db")
    calls = db.execute("SELECT phase, request_hash, sample_index FROM llm_calls").fetchall()
    db.close()
    assert len(calls) == len(set(calls)) == out["llm_calls"] == local["llm_calls"]  # none asked twice
    assert calls_before <= len(calls)


def test_a_problem_needing_a_resource_only_the_second_node_has_runs_there(cluster: Cluster, tmp_path: Path) -> None:
    config = tmp_path / "special.toml"
    config.write_text("[eval]\ntrials = 2\nresources = {special = 1}\n")
    proc = autocomp("eval", "gemmini/gemm-512x512x512", "--config", str(config), *_ray(cluster), "--json")
    assert proc.returncode == 0, proc.stderr
    node = json.loads(proc.stdout)["details"]["node"]
    assert node["id"] == cluster.node_ids()["special"]

    config.write_text("[eval]\ntrials = 2\nresources = {fpga = 1}\n")
    missing = autocomp("eval", "gemmini/gemm-512x512x512", "--config", str(config), *_ray(cluster), "--json")
    assert_one_line_error(missing, "fpga", "ray start --address=HEAD:PORT --resources='{\"fpga\": 1.0}'")


def test_timed_work_holds_a_timing_core_and_a_duel_is_one_task_on_one_node(cluster: Cluster) -> None:
    """cpu kernels are timed on wall clock, so each evaluation needs a `timing_core`, which only
    the head offers here; a duel (the faster GEMM against the initial loop nest) is one task."""
    from autocomp.config import EvalConfig
    from autocomp.search.executors import open_executor
    from autocomp.targets.registry import get_target, resolve_problem

    problem, target = resolve_problem("cpu/gemm-f32-256"), get_target("cpu")
    settings = EvalConfig(min_time_s=0.1, trials=2, timeout_s=10, executor="ray", address=cluster.address)
    evaluator = target.evaluator(problem, settings)
    executor = open_executor(target, problem, settings, evaluator)
    try:
        evaluated = executor.submit(problem.initial_code).result()
        duel = executor.duel(kernel("gemm256_faster.c"), problem.initial_code).result()
    finally:
        executor.shutdown()
        evaluator.close()
    head = cluster.node_ids()["head"]
    assert evaluated.correct and evaluated.details["node"]["id"] == head and evaluated.details["node"]["niceness"] == 0
    assert not any(f.startswith("timed at niceness") for f in evaluated.details.get("flags", []))
    assert duel.correct and duel.details["node"]["id"] == head
    busy = any(f.startswith("busy machine") for f in duel.details.get("flags", []))  # the harness's own verdict on load
    assert (duel.speedup or 0) > 1.5 or busy, duel


def test_killing_the_worker_node_mid_run_loses_and_double_counts_no_evaluation(cluster: Cluster, tmp_path: Path,
                                                                             fast_config: Path) -> None:
    """The second node dies (its raylet and workers SIGKILLed) while it runs an evaluation; Ray
    runs that evaluation again on the head, and the run ends with the local pool's candidates
    and verdicts, every one stored once, none as an infrastructure failure."""
    local = _optimize(*TUNER, "--config", str(fast_config), "--run-dir", str(tmp_path / "local"))
    run_dir = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", *TUNER, "--config", str(fast_config),
                             "--run-dir", str(run_dir), *_ray(cluster), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marker, killed_busy = f"{cluster.base}/special", False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        busy = [pid for pid, cmd in tree(marker).items() if cmd.startswith("ray::evaluate_on_worker")]
        if busy:
            kill_tree(marker)
            killed_busy = True
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    assert killed_busy, "the second node never ran an evaluation"
    assert proc.returncode == 0, err
    assert _rows(run_dir) == _rows(tmp_path / "local")
    assert json.loads(out)["best"] == local["best"]
    db = sqlite3.connect(run_dir / "run.db")
    hashes = {h for (h,) in db.execute("SELECT code_hash FROM candidates WHERE code_hash IS NOT NULL")}
    stored = [h for (h,) in db.execute("SELECT code_hash FROM evaluations")]
    db.close()
    assert sorted(stored) == sorted(hashes)  # every kernel evaluated, each stored once
    assert "infrastructure_failure" not in {o for o, _ in _rows(run_dir)[1].values()}


def test_an_evaluation_no_live_node_can_run_is_an_infrastructure_failure_that_resume_evaluates(
        cluster: Cluster, tmp_path: Path) -> None:
    """Every evaluation needs `special`; a node offering it dies mid-run and none is left: the
    evaluations it held become infrastructure failures, which the run does not store, and a
    resume with a new `special` node evaluates them, ending where the local pool's run ends."""
    config = tmp_path / "special.toml"
    config.write_text("[eval]\nmin_time_s = 0.1\ntimeout_s = 4\ntrials = 2\nresources = {special = 1}\nmax_retries = 1\n")
    local = _optimize(*TUNER, "--config", str(config), "--run-dir", str(tmp_path / "local"))

    def special_node(name: str) -> str:
        subprocess.run([str(RAY), "start", f"--address={cluster.address}", *SMALL, '--resources={"special": 1}',
                        f"--temp-dir={cluster.base}/{name}"], check=True, capture_output=True, env=_env(), timeout=180)
        return f"{cluster.base}/{name}"

    kill_tree(f"{cluster.base}/special")  # the module's own special node (gone already if the test before killed it)
    marker = special_node("special-a")
    run_dir = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", *TUNER, "--config", str(config),
                             "--run-dir", str(run_dir), *_ray(cluster), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, killed_busy = time.monotonic() + 300, False
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(run_dir, "evaluations") >= 1 and any(
                cmd.startswith("ray::evaluate_on_worker") for cmd in tree(marker).values()):
            kill_tree(marker)
            killed_busy = True
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    assert killed_busy and proc.returncode == 0, err
    assert "evaluation lost to the infrastructure (not stored" in err and "no live Ray node offers special" in err
    _, evals = _rows(run_dir)
    assert "infrastructure_failure" not in {o for o, _ in evals.values()}
    assert len(evals) < len(_rows(tmp_path / "local")[1])  # some kernels have no verdict yet

    special_node("special-b")
    resumed = autocomp("resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(run_dir) == _rows(tmp_path / "local") and json.loads(resumed.stdout)["best"] == local["best"]


def test_a_lost_head_stops_the_run_and_resume_on_a_new_cluster_measures_nothing_twice(
        cluster: Cluster, tmp_path: Path, fast_config: Path) -> None:
    """The head (a cluster of its own, here) dies mid-run: the run stops with a one-line error
    naming `autocomp resume`; resumed on a new cluster it ends as the local pool's run does, and
    every evaluation stored before the head died is kept as it was (measured on the old cluster)."""
    replay = _replay(tmp_path)
    models = ("--models", f"replay::{replay}", "--config", str(fast_config))
    local = _optimize(*REPLAY_ARGS, *models, "--run-dir", str(tmp_path / "local"))
    base = Path(tempfile.mkdtemp(prefix="acray-", dir="/tmp"))
    try:
        first = _start_head(base / "one")
        run_dir = tmp_path / "run"
        proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", *REPLAY_ARGS, *models, "--run-dir",
                                 str(run_dir), "--executor", "ray", "--ray-address", first, "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and _count(run_dir, "evaluations") < 2:
            time.sleep(0.1)
        assert proc.poll() is None, "the run finished before its head could be killed"
        kill_tree(str(base / "one"))
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 2, (out, err)
        error = json.loads(out)  # --json: the error is one JSON object on stdout, naming the folder to resume
        assert error["kind"] == "user_error" and error["run_dir"] == str(run_dir), error
        assert "lost the Ray cluster" in error["error"] and "autocomp resume" in error["error"], error
        assert "lost the Ray cluster" in err and "Traceback" not in err, err
        db = sqlite3.connect(run_dir / "run.db")
        before = db.execute("SELECT code_hash, created, details_json FROM evaluations").fetchall()
        db.close()

        second = _start_head(base / "two")
        resumed = autocomp("resume", str(run_dir), "--ray-address", second, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["best"] == local["best"] and _rows(run_dir) == _rows(tmp_path / "local")
        db = sqlite3.connect(run_dir / "run.db")
        after = {h: (c, d) for h, c, d in db.execute("SELECT code_hash, created, details_json FROM evaluations")}
        calls = db.execute("SELECT phase, request_hash, sample_index FROM llm_calls").fetchall()
        db.close()
        assert all(after[h] == (c, d) for h, c, d in before)  # nothing stored was measured again
        assert len(calls) == len(set(calls)) == local["llm_calls"]
    finally:
        kill_tree(str(base))
        shutil.rmtree(base, ignore_errors=True)


def _count(run_dir: Path, table: str) -> int:
    if not (run_dir / "run.db").exists():
        return 0
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not written yet
        return 0
    finally:
        db.close()
