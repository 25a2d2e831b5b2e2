"""Evaluations per minute on Gemmini problems: the local pool vs Ray with 1 and 2 worker nodes on
this machine, and the per-evaluation overhead Ray adds.

    PYTHONPATH=. python benchmarks/ray_throughput.py [--evals 6] [--problems gemmini/gemm-512x512x512,...]

Each evaluation is a distinct kernel (the problem's initial code with a unique comment), so no
compiled object is reused. Throughput: all evaluations of a problem submitted at once. Overhead:
evaluations one at a time, the local pool and a one-node Ray cluster alternating, after one
warm-up each (the worker builds its evaluator once, as in a run); the median paired difference,
and the round trip of an empty Ray task (Ray's dispatch alone, without the noise of evaluations).
The clusters are started with `ray start` on 127.0.0.1 (a head that runs nothing, `--num-cpus=0`,
plus N worker nodes with `--num-cpus=2` each, workers at niceness 0 as the README advises) and
torn down by their process trees.
All nodes share this machine's cores, so 2 nodes add parallel slots, not cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autocomp.config import EvalConfig
from autocomp.proctree import kill_tree
from autocomp.search.executors import open_executor
from autocomp.targets.registry import get_target, resolve_problem

RAY = Path(sys.executable).parent / "ray"
SETTINGS = {"trials": 2}


def variants(code: str, n: int, tag: str) -> list[str]:
    return [f"/* benchmark {tag} {i} */\n{code}" for i in range(n)]


def start_cluster(workers: int) -> tuple[str, Path]:
    base = Path(tempfile.mkdtemp(prefix="acbench-", dir="/tmp"))
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
    os.environ.update({k: env[k] for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")})
    common = ["--node-ip-address=127.0.0.1", "--object-store-memory=80000000", "--disable-usage-stats"]
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=0", *common, f"--temp-dir={base}/head",
                    "--include-dashboard=false"], check=True, capture_output=True, env=env)
    for n in range(workers):
        subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", "--num-cpus=2", *common,
                        f"--temp-dir={base}/w{n}"], check=True, capture_output=True, env=env)
    return f"127.0.0.1:{port}", base


def stop_cluster(base: Path) -> None:
    kill_tree(str(base))  # `ray start` daemonizes: its nodes are found by their temp dirs under base
    shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput(problems: list[str], evals: int, settings: EvalConfig, tag: str) -> dict[str, float]:
    """Evaluations per minute per problem, all of a problem's evaluations in flight at once."""
    rates = {}
    for name in problems:
        problem, target = resolve_problem(name), get_target(name.split("/")[0])
        evaluator = target.evaluator(problem, settings)
        executor = open_executor(target, problem, settings, evaluator)
        try:
            executor.submit(problem.initial_code).result()  # warm-up: runtime and worker evaluators built
            start = time.perf_counter()
            results = [f.result() for f in [executor.submit(c) for c in variants(problem.initial_code, evals, tag)]]
            elapsed = time.perf_counter() - start
        finally:
            executor.shutdown()
            evaluator.close()
        assert all(r.correct for r in results), [r.summary() for r in results if not r.correct]
        rates[name] = evals / elapsed * 60
    return rates


def paired(name: str, evals: int, local: EvalConfig, ray: EvalConfig) -> dict[str, list[float]]:
    """Seconds per evaluation one at a time, the local pool and a Ray task alternating (which goes
    first alternates too), so drift in the machine's load hits both alike."""
    problem, target = resolve_problem(name), get_target(name.split("/")[0])
    evaluators = {mode: target.evaluator(problem, cfg) for mode, cfg in (("local", local), ("ray", ray))}
    executors = {mode: open_executor(target, problem, cfg, evaluators[mode]) for mode, cfg in (("local", local), ("ray", ray))}
    times: dict[str, list[float]] = {"local": [], "ray": []}  # and "empty_task": Ray's dispatch alone
    try:
        for executor in executors.values():
            executor.submit(problem.initial_code).result()  # warm-up: runtime and the worker's evaluator built
        times["empty_task"] = round_trip(20)
        for i, code in enumerate(variants(problem.initial_code, evals, "paired")):
            for mode in (("local", "ray") if i % 2 == 0 else ("ray", "local")):
                start = time.perf_counter()
                result = executors[mode].submit(f"/* {mode} */\n{code}").result()
                times[mode].append(time.perf_counter() - start)
                assert result.correct, result.summary()
    finally:
        for mode in executors:
            executors[mode].shutdown()
            evaluators[mode].close()
    return times


def _noop() -> None:
    return None


def round_trip(tasks: int) -> list[float]:
    """Seconds for an empty Ray task asking for one CPU, one at a time (the driver must be
    connected): Ray's own dispatch cost, the fixed part of its per-evaluation overhead."""
    import ray

    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote())  # a worker process is up
    times = []
    for _ in range(tasks):
        start = time.perf_counter()
        ray.get(task.remote())
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=6, help="evaluations per problem and mode")
    parser.add_argument("--problems", default="gemmini/gemm-512x512x512,gemmini/conv-3,gemmini/admm-1")
    args = parser.parse_args()
    problems = args.problems.split(",")
    local = EvalConfig(**SETTINGS)
    report: dict[str, object] = {"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
                                 "evals_per_problem": args.evals, "local_pool_workers": min(2, os.cpu_count() or 1)}
    report["local"] = throughput(problems, args.evals, local, "local")
    for workers in (1, 2):
        address, base = start_cluster(workers)
        try:
            ray = EvalConfig(**SETTINGS, executor="ray", address=address)
            report[f"ray_{workers}_node"] = throughput(problems, args.evals, ray, f"ray{workers}")
            if workers == 1:
                report["sequential_s"] = paired(problems[0], 3 * args.evals, local, ray)
        finally:
            stop_cluster(base)
    seq: dict[str, list[float]] = report["sequential_s"]  # type: ignore[assignment]
    diffs = [r - l for l, r in zip(seq["local"], seq["ray"])]
    local_s, ray_s = statistics.median(seq["local"]), statistics.median(seq["ray"])
    report["overhead_s_per_eval"] = statistics.median(diffs)
    report["overhead_pct"] = 100 * statistics.median(diffs) / local_s
    report["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    for mode in ("local", "ray_1_node", "ray_2_node"):
        rates = report[mode]
        print(f"{mode:>11}: " + ", ".join(f"{p} {r:.1f}/min" for p, r in rates.items()))  # type: ignore[union-attr]
    print(f"sequential {problems[0]}: local {local_s:.3f} s/eval, ray {ray_s:.3f} s/eval, "
          f"overhead {report['overhead_s_per_eval']:.3f} s ({report['overhead_pct']:.1f}%, median paired difference); "
          f"an empty Ray task: {1e3 * statistics.median(seq['empty_task']):.1f} ms "
          f"({100 * statistics.median(seq['empty_task']) / local_s:.2f}% of a local evaluation)")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
