"""The tuner on GEMM shapes nobody planned for, against the vendor libraries, measured in one run.

For each M x N x K: a problem folder made by `autocomp new` (a plain i-k-j kernel, numpy
reference, `--family gemm`, so the params come from the shapes), a short tuner search, then
`--repeat` rounds of: the run's best kernel re-verified and timed interleaved with the initial
code, and the vendor paths (numpy's BLAS, oneMKL, PyTorch where installed) timed in their
sandboxed child on the same core. Medians over the rounds, and the machine's load.

    .venv/bin/python benchmarks/awkward_gemm.py [--shapes 77x1000x333,1000x1000x1000] \\
        [--iterations 2] [--repeat 3] [--out /tmp/awkward]

Single core, fp32, warm caches. On a shared machine the vendor is measured in its own process,
not interleaved, so read the ratio next to the load and the rounds' range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autocomp.evaluation.base import EvalSettings  # noqa: E402
from autocomp.problem import load_problem  # noqa: E402
from autocomp.targets.registry import get_target  # noqa: E402

REFERENCE = "import numpy as np\n\n\ndef reference(A, B):\n    return A.astype(np.float64) @ B.astype(np.float64)\n"


def naive(m: int, n: int, k: int) -> str:
    """The starting point a user would write: i-k-j loops (the inner one vectorizes)."""
    return (f"#include <stddef.h>\n#include <string.h>\n"
            f"void gemm(const float *A, const float *B, float *C) {{\n"
            f"  memset(C, 0, sizeof(float) * {m} * {n});\n"
            f"  for (int i = 0; i < {m}; i++)\n    for (int k = 0; k < {k}; k++) {{\n"
            f"      const float a = A[(size_t)i * {k} + k];\n"
            f"      for (int j = 0; j < {n}; j++) C[(size_t)i * {n} + j] += a * B[(size_t)k * {n} + j];\n    }}\n}}\n")


def cli(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "autocomp.cli", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"autocomp {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="77x1000x333,1000x1000x1000")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/autocomp-awkward"))
    opts = ap.parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "ref.py").write_text(REFERENCE)
    rows = []
    for shape in opts.shapes.split(","):
        m, n, k = (int(v) for v in shape.split("x"))
        folder, run = opts.out / f"gemm-{shape}", opts.out / f"run-{shape}"
        if not folder.exists():
            (opts.out / f"naive-{shape}.c").write_text(naive(m, n, k))
            cli("new", str(folder), "--target", "cpu", "--from-kernel", str(opts.out / f"naive-{shape}.c"), "--family", "gemm",
                "--shape", f"A={m},{k}", "--shape", f"B={k},{n}", "--shape", f"C={m},{n}", "--flops", "2*M*N*K",
                "--reference", str(opts.out / "ref.py"), "--description", f"fp32 C = A @ B, {m}x{n}x{k}, row-major", "--json")
        if not (run / "summary.json").exists():
            cli("optimize", str(folder), "--models", "tuner", "--iterations", str(opts.iterations), "--beam", "2",
                "--plans", "3", "--codes", "1", "--run-dir", str(run), "--json")
        summary = json.loads((run / "summary.json").read_text())
        problem, target = load_problem(folder), get_target("cpu")
        best_code = (run / "best.c").read_text()
        evaluator = target.evaluator(problem, EvalSettings(min_time_s=1.0))
        rounds = []
        try:
            for _ in range(opts.repeat):  # ours (interleaved with the initial code), then the vendors, back to back
                before = load()
                ours = evaluator.evaluate(best_code)
                assert ours.correct, ours.error
                vendor = target.baselines(problem)
                paths = {p.name: p.latency_s for p in vendor.paths if p.available and p.rel_err is not None and p.rel_err < 1e-2}
                rounds.append({"load": before, "best_s": ours.latency_s, "initial_s": ours.baseline_latency_s, "vendor": paths})
        finally:
            evaluator.close()
        med = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
        names = sorted(set.intersection(*(set(r["vendor"]) for r in rounds)))
        vendors = {name: statistics.median(r["vendor"][name] for r in rounds) for name in names}
        ratios = {name: [r["vendor"][name] / r["best_s"] for r in rounds] for name in names}
        rows.append({"shape": f"{m}x{n}x{k}", "flops": 2 * m * n * k, "schedule": [s["plan_text"] for s in summary["schedule"]],
                     "initial_ms": med("initial_s") * 1e3, "best_ms": med("best_s") * 1e3,
                     "vendor_ms": {k2: v * 1e3 for k2, v in vendors.items()},
                     "best_vs_vendor": {k2: [statistics.median(v), min(v), max(v)] for k2, v in ratios.items()},
                     "loads": [r["load"] for r in rounds]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {load()}, {os.cpu_count()} CPUs")
    for row in rows:
        gf = lambda ms: row["flops"] / ms / 1e6  # noqa: E731
        vend = ", ".join(f"{name} {ms:.3g} ms ({gf(ms):.1f} GF/s, ours x{row['best_vs_vendor'][name][0]:.2f})"
                         for name, ms in row["vendor_ms"].items())
        print(f"{row['shape']}: initial {row['initial_ms']:.3g} ms ({gf(row['initial_ms']):.1f} GF/s), "
              f"tuned {row['best_ms']:.3g} ms ({gf(row['best_ms']):.1f} GF/s); {vend}")


if __name__ == "__main__":
    main()
