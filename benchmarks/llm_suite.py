"""A fixed small suite of searches with one model, for comparing models and search settings.

    .venv/bin/python benchmarks/llm_suite.py MODEL [--repair 0|1] [--code-models M] [--out DIR]

MODEL is any model string: `openai::gpt-4o`, `openai@http://host:8000/v1::name`, or
`files::DIR` to let anything that answers prompt files be the model (a coding agent, a person;
see README, "A model that answers through files"). Every search uses the same seed, budget
and problems, so two runs differ only in the model and the flags: run it with `--repair 0` and
`--repair 1` on the same seed to see what repair recovers.

Prints one table: per problem the winner's headline speedup over the initial code (the run's
`best.speedup_vs_initial`, autocomp/headline.py: its re-check on fresh inputs after the search;
the search's own measurement where there was no re-check; none when the re-check failed), `*`
where that measurement is marked unreliable (too few calls ran unpreempted), candidates, the
fraction of them that were correct, model calls (failed ones included), and repairs (correct /
tried). Each search is the real `autocomp optimize` command; its run folder stays under --out
for `autocomp report`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autocomp.outputs import RunOutput
from autocomp.store.runstore import RunStore

# One of each kind the method was shown on: a Gemmini GEMM, a convolution, an ADMM step, and a
# GEMM timed for real on this CPU. Small enough that a search of this budget takes minutes.
PROBLEMS = ("gemmini/gemm-512x512x512", "gemmini/conv-3", "gemmini/admm-1", "cpu/gemm-f32-256")
SEED = 1111
BUDGET = ("--iterations", "3", "--beam", "2", "--plans", "2", "--codes", "1")


@dataclass(frozen=True)
class Row:
    problem: str
    speedup: float | None
    candidates: int
    correct: int
    calls: int
    repairs: int
    repaired: int
    unreliable: str | None = None  # the headline's measurement lacked clean calls: why
    error: str | None = None


def run_one(problem: str, model: str, code_models: str | None, repair: int, out: Path, extra: list[str]) -> Row:
    run_dir = out / f"{problem.replace('/', '-')}-repair{repair}"
    args = [sys.executable, "-m", "autocomp.cli", "optimize", problem, "--models", model, "--seed", str(SEED), *BUDGET,
            "--repair", str(repair), "--run-dir", str(run_dir), "--json", *extra]
    if code_models:
        args += ["--code-models", code_models]
    if run_dir.exists():  # same settings again: finish or replay it, asking no model twice
        args = [sys.executable, "-m", "autocomp.cli", "resume", str(run_dir), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return Row(problem, None, 0, 0, 0, 0, 0, error=lines[-1] if lines else f"exit code {proc.returncode}")
    best = RunOutput.model_validate_json(proc.stdout).best
    store = RunStore.open(run_dir)
    try:
        made = [r for r in store.candidates() if r["origin"] != "initial"]
        repairs = [r for r in made if r["origin"] == "repair"]
        calls = len(store.llm_calls())
    finally:
        store.close()
    return Row(problem, best.speedup_vs_initial, len(made), sum(r["outcome"] == "ok" for r in made),
               calls, len(repairs), sum(r["outcome"] == "ok" for r in repairs), best.unreliable)


def table(rows: list[Row], model: str, repair: int) -> str:
    head = f"model {model}, repair {repair}, seed {SEED}, budget {' '.join(BUDGET)}"
    lines = [head, "", f"{'problem':<28} {'best speedup':>12} {'candidates':>10} {'correct':>8} {'model calls':>11} {'repairs ok/tried':>16}"]
    for r in rows:
        if r.error:
            lines.append(f"{r.problem:<28} failed: {r.error}")
            continue
        frac = f"{r.correct / r.candidates:.0%}" if r.candidates else "-"
        best = f"{r.speedup:.2f}x" + ("*" if r.unreliable else "") if r.speedup else "-"
        lines.append(f"{r.problem:<28} {best:>12} {r.candidates:>10} {frac:>8} {r.calls:>11} {f'{r.repaired}/{r.repairs}':>16}")
    shaky = [r for r in rows if r.speedup and r.unreliable]
    if shaky:
        lines += ["", "* unreliable timing, not a result to compare models by:"]
        lines += [f"  {r.problem}: {r.unreliable}" for r in shaky]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model string for plans (and code unless --code-models)")
    parser.add_argument("--code-models", help="model string(s) for code, comma-separated")
    parser.add_argument("--repair", type=int, choices=(0, 1), default=1, help="repair attempts per failed candidate")
    parser.add_argument("--out", type=Path, default=Path("runs/llm_suite"), help="where the run folders go")
    parser.add_argument("--problems", help=f"comma-separated subset of {', '.join(PROBLEMS)}")
    parser.add_argument("--config", help="an autocomp config file passed to every search (e.g. [llm.providers.files] timeout_s)")
    args = parser.parse_args()
    problems = args.problems.split(",") if args.problems else list(PROBLEMS)
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown:
        parser.error(f"--problems: {', '.join(unknown)} not in the suite ({', '.join(PROBLEMS)})")
    extra = ["--config", args.config] if args.config else []
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [run_one(p, args.model, args.code_models, args.repair, args.out, extra) for p in problems]
    print(table(rows, args.model, args.repair))
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
