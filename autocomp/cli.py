"""The `autocomp` command. Thin: parse, call autocomp.runner, print."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

from autocomp.errors import RunInterrupted, UserError, unreadable

if TYPE_CHECKING:
    from autocomp.outputs import CheckOutput


def _emit(as_json: bool, row: Any, render) -> None:  # type: ignore[no-untyped-def]
    """Print a command's typed output: as JSON (one object or list), or through its renderer."""
    if as_json:
        data = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in row] if isinstance(row, list) else \
            row.model_dump(mode="json") if isinstance(row, BaseModel) else row
        click.echo(json.dumps(data, default=str))
    else:
        render(row)


def _log(as_json: bool):  # type: ignore[no-untyped-def]
    from autocomp.report.console import errors

    return (lambda msg: errors.print(msg, markup=False, soft_wrap=True)) if as_json else (lambda msg: click.echo(msg))


def _budget_options(command):  # type: ignore[no-untyped-def]
    """--max-cost, --max-llm-calls, --no-cache: shared by optimize and resume."""
    for option in reversed([
        click.option("--max-cost", type=float, help="USD; stop at the iteration boundary that would exceed it"),
        click.option("--max-llm-calls", type=int, help="stop at the iteration boundary that would exceed N calls"),
        click.option("--no-cache", "no_cache", is_flag=True, default=None, help="ask models again even for stored replies"),
    ]):
        command = option(command)
    return command


def _executor_options(command):  # type: ignore[no-untyped-def]
    """--executor, --ray-address: shared by eval, optimize and resume ([eval] executor / address)."""
    for option in reversed([
        click.option("--executor", type=click.Choice(["local", "ray"]),
                     help="where evaluations run: this machine's pool (default) or a Ray cluster"),
        click.option("--ray-address", help='the Ray cluster: auto, ray://HOST:10001, HOST:6379 or local ([eval] address)'),
    ]):
        command = option(command)
    return command


def _eval_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """Pop the [eval] placement flags that were given, under their config names."""
    names = {"executor": "executor", "ray_address": "address"}
    return {names[k]: flags.pop(k) for k in list(flags) if k in names and flags[k] is not None}


def _llm_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """Pop the [llm] flags that were given, under their config names."""
    from autocomp.config import LLM_FLAGS

    llm = {LLM_FLAGS[k]: flags.pop(k) for k in list(flags) if k in LLM_FLAGS and flags[k] is not None}
    if flags.pop("no_cache", None):
        llm["cache"] = False
    return llm


@click.group()
@click.version_option(package_name="autocomp")
def cli() -> None:
    """Optimize accelerator kernels by LLM-guided beam search, verified on real hardware."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON list")
def problems(as_json: bool) -> None:
    """List the built-in problems."""
    from autocomp.outputs import ProblemRow
    from autocomp.report.console import problems_table
    from autocomp.targets.registry import builtin_problems

    rows = [ProblemRow(name=p.name, target=p.target, description=p.spec.description, family=p.spec.family,
                       path=str(p.root)) for p in builtin_problems()]
    _emit(as_json, rows, problems_table)


@cli.command("eval")
@click.argument("problem")
@click.argument("code_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config (the [eval] table applies)")
@click.option("--emulate", is_flag=True,
              help="verify on the target's functional emulator (amx without AMX hardware): correctness only, not timed")
@click.option("--cold-cache", is_flag=True,
              help="flush the buffers of both kernels from every cache level before each timed call ([eval] cold_cache)")
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_cmd(problem: str, code_file: Path | None, config_file: Path | None, emulate: bool, cold_cache: bool,
             as_json: bool, **flags: Any) -> None:
    """Compile, verify and time CODE_FILE (default: the problem's initial code).

    Exit status: 0 when the code is correct, 1 when it is not (the report says why), 2 on a
    usage error."""
    from autocomp.config import load_config
    from autocomp.report.console import eval_report
    from autocomp.runner import evaluate_code
    from autocomp.targets.registry import resolve_problem

    prob = resolve_problem(problem)
    placement = _eval_flags(flags)
    eval_flags = {**placement, **({"cold_cache": True} if cold_cache else {})}
    config = load_config(config_file, {"eval": eval_flags} if eval_flags else None, search=False)
    try:
        code = code_file.read_text() if code_file else prob.initial_code
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"kernel file {unreadable(code_file, exc)}") from None
    row = evaluate_code(prob, code, config, emulate)
    _emit(as_json, row, eval_report)
    if not row.correct:  # scripts and CI can test the status instead of parsing the report
        raise SystemExit(1)


@cli.command()
@click.argument("problem")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file (flags override it)")
@click.option("--models", help="comma-separated plan models, e.g. replay::replies.toml")
@click.option("--code-models", help="comma-separated code models (default: --models)")
@click.option("--iterations", type=int)
@click.option("--beam", type=int)
@click.option("--plans", type=int, help="plans per beam member")
@click.option("--codes", type=int, help="implementations per plan")
@click.option("--menu-keep", type=float, help="menu dropout keep probability")
@click.option("--early-stop", type=int, help="stop after N iterations without improvement")
@click.option("--max-minutes", type=float, help="wall-clock budget, checked at iteration boundaries")
@click.option("--skip-planning", is_flag=True, default=None, help="one call plans and writes code")
@click.option("--repair", type=int, help="repair attempts per failed candidate (0: off; default 1)")
@click.option("--extend-menu", type=int, help="before the search, a model proposes N extra menu items for this problem")
@click.option("--seed", type=int)
@click.option("--emulate", is_flag=True, default=None,
              help="check kernels on the target's functional emulator or interpreter (amx, gpu without the hardware): "
                   "correctness only, nothing is timed ([eval] emulate)")
@click.option("--edits", is_flag=True, default=None, help="code calls return old/new edits to the parent, not whole files")
@_budget_options
@_executor_options
@click.option("--reuse", "reuse_run", type=click.Path(path_type=Path),
              help="first apply the winning schedule of this run (a similar problem), one step per iteration")
@click.option("--run-dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def optimize(problem: str, config_file: Path | None, run_dir: Path | None, reuse_run: Path | None, as_json: bool,
             **flags: Any) -> None:
    """Run a beam search on PROBLEM (a built-in name or a folder)."""
    from autocomp.config import load_config
    from autocomp.report.console import optimize_report
    from autocomp.runner import start_run
    from autocomp.search.schedule import reuse_from
    from autocomp.targets.registry import resolve_problem

    overrides: dict[str, Any] = {}
    for key in ("models", "code_models"):
        value = flags.pop(key)
        if value is not None:
            overrides[key] = value
    llm = _llm_flags(flags)
    if llm:
        overrides["llm"] = llm
    placement = _eval_flags(flags)
    if flags.pop("emulate"):
        placement["emulate"] = True
    if placement:
        overrides["eval"] = placement
    search = {k: v for k, v in flags.items() if v is not None}
    if search:
        overrides["search"] = search
    prob = resolve_problem(problem)
    log = _log(as_json)
    if reuse_run is not None:
        reuse, warning = reuse_from(reuse_run, prob)
        overrides["reuse"] = reuse.model_dump(mode="json", include={"steps"})
        if warning:
            log(f"warning: reusing the schedule of {reuse.steps[0].source}: {warning}")
    config = load_config(config_file, overrides)
    _emit(as_json, start_run(prob, config, run_dir, log), optimize_report)


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@_budget_options
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def resume(run_dir: Path, as_json: bool, **flags: Any) -> None:
    """Continue a run, interrupted, killed or finished, with its stored settings.

    Stored model replies and the search's measurements are reused: nothing asked or measured in
    the search is repeated (model calls that failed are asked again). The final re-checks of the
    answer (fresh inputs, cold caches) are measured again, and the new figures replace the
    stored ones in the summary, `runs` and the report."""
    from autocomp.report.console import optimize_report
    from autocomp.runner import resume_run

    placement = _eval_flags(flags)
    _emit(as_json, resume_run(run_dir, _log(as_json), _llm_flags(flags), placement), optimize_report)


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="where to write it (default: RUN_DIR/report.html)")
def report(run_dir: Path, out: Path | None) -> None:
    """Write the HTML report of the run in RUN_DIR (any run: finished, running or killed)."""
    from autocomp.report.html import write_report

    click.echo(f"report written to {write_report(run_dir, out)}")


@cli.command()
@click.argument("root", required=False, default="runs", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON list")
def runs(root: Path, as_json: bool) -> None:
    """List the runs stored under ROOT (default: ./runs).

    Status: running, finished, interrupted (Ctrl-C, SIGTERM), failed (an error stopped it; see its
    stop reason) or killed (stored as running, but no process holds it any more). The speedup is
    the answer's re-checked one (fresh inputs, interleaved with the initial code) where the run
    re-checked it; "(unreliable)" marks one timed with too few unpreempted calls (--json says why)."""
    from autocomp.report.console import runs_table
    from autocomp.runner import list_runs

    _emit(as_json, list_runs(root), runs_table)


@cli.command()
@click.argument("problem")
@click.option("--core", type=int, help="pin the vendor libraries to this core; default: the last allowed core")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def baseline(problem: str, core: int | None, as_json: bool) -> None:
    """Measure the best available vendor library on PROBLEM (same shapes, same pinned core)."""
    from autocomp.report.console import baseline_report
    from autocomp.targets.registry import get_target, resolve_problem

    prob = resolve_problem(problem)
    target = get_target(prob.target)
    row = target.baselines(prob, _checked_core(core))
    missing = target.unavailable_reason()
    if missing and row.paths:  # the libraries still run, on their fallback code: say these are not the target's timings
        row = row.model_copy(update={"warning": f"this machine cannot run {target.name} kernels (`autocomp hardware "
                                                f"{target.name}` says why): these are the libraries' fallback code paths "
                                                f"on this CPU, not {target.name} timings"})
    _emit(as_json, row, baseline_report)


@cli.command()
@click.argument("target")
@click.option("--runs", "root", default="runs", type=click.Path(path_type=Path), help="where stored runs are searched")
@click.option("--family", "families", multiple=True, help="only problems of this family (repeatable)")
@click.option("--no-vendor", is_flag=True, help="skip vendor baselines")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 20),
              help="rounds per problem (ours, then the vendor's); the median ratio and its range are reported")
@click.option("--core", type=int, help="pin timing (ours and the vendor's) to this core; default: the last allowed core")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def bench(target: str, root: Path, families: tuple[str, ...], no_vendor: bool, repeat: int, core: int | None,
          as_json: bool) -> None:
    """Initial code, best stored result and vendor baseline for every TARGET problem, side by side."""
    from autocomp.bench import bench as run_bench
    from autocomp.report.console import bench_table

    _emit(as_json, run_bench(target, root, list(families), not no_vendor, _log(as_json), repeat, _checked_core(core)),
          bench_table)


@cli.command("new")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--target", required=True, help="the target that runs it: cpu, amx, gemmini (`autocomp problems`)")
@click.option("--signature", help='the kernel\'s C prototype, e.g. "void f(const float *x, float *y, int n)"')
@click.option("--from-kernel", "from_kernel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="an existing kernel file: it becomes initial.c and its definition gives the signature")
@click.option("--entry", help="the kernel's function name in --from-kernel (needed when the file defines several)")
@click.option("--shape", "shapes", multiple=True, metavar="NAME=D0,D1,...", help="a tensor's logical shape (repeatable)")
@click.option("--scalar", "scalars", multiple=True, metavar="NAME=INT", help="the value of an int parameter (repeatable)")
@click.option("--param", "params", multiple=True, metavar="NAME=INT",
              help="a problem fact templates and the tuner read (repeatable; a family's template infers them from the shapes)")
@click.option("--dtype", "dtypes", multiple=True, metavar="NAME=DTYPE", help="override a tensor's dtype, e.g. B=bf16 for uint16_t")
@click.option("--family", default="generic", show_default=True, help="problem family; one with a template (gemm, conv, softmax on cpu) lets the tuner start from it")
@click.option("--flops", metavar="EXPR", help="useful operations per call, an integer expression over params and scalars, e.g. 2*M*N*K")
@click.option("--description", help="one line saying what is computed and the layouts (shown to models)")
@click.option("--name", help="the problem's name (default: the folder's name)")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a Python file defining reference(...) in numpy (default: a stub to fill in)")
@click.option("--no-check", is_flag=True, help="only write the folder; do not run `autocomp check` on it")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def new(folder: Path, target: str, signature: str | None, from_kernel: Path | None, entry: str | None,
        shapes: tuple[str, ...], scalars: tuple[str, ...], params: tuple[str, ...], dtypes: tuple[str, ...],
        family: str, flops: str | None, description: str | None, name: str | None, reference: Path | None,
        no_check: bool, as_json: bool) -> None:
    """Make a problem folder for your own kernel (problem.toml, initial.c, reference.py), then check it.

    Inputs, outputs, scalars and dtypes come from the C signature; what cannot be inferred is
    left as an AUTOCOMP-TODO line to fill in. Exit status as for `check`."""
    from autocomp.onboard import NewRequest, create, dtype_value, int_value, parse_assignments, shape_value
    from autocomp.report.console import new_report

    request = NewRequest(folder=folder, target=target, signature=signature, from_kernel=from_kernel, entry=entry,
                         shapes=parse_assignments("--shape", shapes, shape_value),
                         dtypes=parse_assignments("--dtype", dtypes, dtype_value),
                         scalars=parse_assignments("--scalar", scalars, int_value),
                         params=parse_assignments("--param", params, int_value), family=family, flops=flops,
                         description=description, name=name, reference=reference)
    row = create(request)
    if not row.todo and not no_check:
        row.check = _check(folder, None, _log(as_json))
    _emit(as_json, row, new_report)
    if row.check is not None and not row.check.ready:
        raise SystemExit(1)


@cli.command("check")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config (the [eval] table applies)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def check_cmd(folder: Path, config_file: Path | None, as_json: bool) -> None:
    """Check a problem folder end to end, before any search: load it, compare initial.c's signature
    with problem.toml, run the reference, verify and time the initial code against it, and say
    what a search would start from.

    Exit status: 0 when the folder is ready, 1 when the initial code fails verification, 2 for a
    mistake in the folder (the message names the file, the field and the fix)."""
    from autocomp.report.console import check_report

    row = _check(folder, config_file, _log(as_json))
    _emit(as_json, row, check_report)
    if not row.ready:
        raise SystemExit(1)


def _check(folder: Path, config_file: Path | None, log) -> CheckOutput:  # type: ignore[no-untyped-def]
    from autocomp.config import load_config
    from autocomp.onboard import check

    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; make one with `autocomp new {folder} --target cpu --signature ...`")
    return check(folder, load_config(config_file, search=False), log)


def _checked_core(core: int | None) -> int | None:
    """The --core flag, checked like [eval] core (a core we may not use would fail every timing run)."""
    from pydantic import ValidationError

    from autocomp.evaluation.base import EvalSettings

    try:
        return EvalSettings(core=core).core
    except ValidationError as exc:
        raise UserError(f"--core: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


@cli.command()
@click.argument("target")
@click.option("--remeasure", is_flag=True, help="forget this machine's cached measurements and measure again")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def hardware(target: str, remeasure: bool, as_json: bool) -> None:
    """Show the measured hardware facts (peaks, bandwidths) TARGET's utilization is based on."""
    from autocomp.targets.peak import forget_measurements
    from autocomp.targets.registry import get_target

    tgt = get_target(target)
    reason = tgt.unavailable_reason()
    if reason:
        raise UserError(reason)
    from autocomp.outputs import HardwareOutput

    forgotten = forget_measurements() if remeasure else 0
    facts = tgt.hardware()
    row = HardwareOutput(target=target, description=facts.description, peak_flops=facts.peak_flops, remeasured=forgotten)
    _emit(as_json, row, lambda r: click.echo(f"{r.target}: {r.description}"))


def _fail(message: str, kind: str, exit_code: int, run_dir: str | None = None) -> None:
    """Report a failed command: one line on stderr, and with --json one JSON object on stdout."""
    from autocomp.outputs import ErrorOutput

    click.echo(message, err=True)
    if "--json" in sys.argv[1:]:
        click.echo(ErrorOutput(error=message.removeprefix("error: "), kind=kind,  # type: ignore[arg-type]
                               exit_code=exit_code, run_dir=run_dir).model_dump_json())
    sys.exit(exit_code)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (a scheduler, `kill`): stop like Ctrl-C, so the run records itself as interrupted."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C / SIGINT stops a run cleanly even where our parent ignored SIGINT (a shell's background
    # job, CI), which Python would otherwise inherit: the run must record itself as interrupted
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.main(standalone_mode=False)
    except UserError as exc:
        _fail(f"error: {exc}", "user_error", 2, exc.run_dir)
    except RunInterrupted as exc:
        _fail(str(exc), "interrupted", 130, exc.run_dir)
    except (click.exceptions.Abort, KeyboardInterrupt):  # before a run folder existed: nothing to resume
        _fail("interrupted", "interrupted", 130)
    except click.ClickException as exc:
        if "--json" in sys.argv[1:]:
            _fail(f"error: {exc.format_message()}", "user_error", exc.exit_code)
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - our bug: one line for the user, the traceback in a file for the report
        _fail(f"error: internal error ({type(exc).__name__}: {exc}); please report it with the traceback in "
              f"{_save_traceback()}", "internal_error", 1)


def _save_traceback() -> str:
    """Write the current exception's traceback to a file (not the terminal); return its path."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", prefix="autocomp-traceback-", suffix=".txt", delete=False) as f:
        traceback.print_exc(file=f)
        return f.name


if __name__ == "__main__":
    main()
