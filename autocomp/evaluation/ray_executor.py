"""Evaluations as Ray tasks: the search runs here, kernels are measured on the nodes that have
the hardware (`[eval] executor = "ray"`, extra `ray`).

Nothing that makes an evaluation trustworthy moves to the driver: a task rebuilds the target's
own evaluator on the worker (sandbox, compile, fresh-seed verification, timing pinned to a core)
and returns its `EvalResult` with the node that measured it (`details.node`). A duel is one task,
so both kernels run in one process on one node; the final re-check and the cold check are tasks
like any other.

Placement: each task asks for the target's resources (`Target.resources`) plus `[eval] resources`,
and a wall-clock timed evaluation also for one `timing_core`, so a node runs as many timed
evaluations at once as it declares timing cores; on the node, the machine-wide lock per core
(`timing.core_lock`, shared with every other timer) keeps two timings off one core even when
several Ray nodes share a machine. Untimed work (Gemmini's modeled cycles) needs only its CPU.

Faults: a task whose worker or node dies is retried by Ray (`max_retries`) on any node with the
resources; after that, or when no live node offers them any more, the result is an
`infrastructure_failure`, which the search never stores as the kernel's verdict. A lost cluster
(the head gone) raises `ClusterLost`: the run stops and `autocomp resume` continues it.

Ray is imported only here, and only when a RayExecutor is made.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autocomp.errors import ProblemError, UserError
from autocomp.evaluation.base import Evaluator
from autocomp.evaluation.result import EvalResult, Outcome

# Ray starts its workers at niceness 15, and the sandboxed harness inherits it, so on a shared core
# timed calls are preempted more often: nodes that time kernels should run `RAY_worker_niceness=0
# ray start ...` (results record the worker's niceness in details.node, and flag timings above 0).
TIMING_CORE = "timing_core"  # custom Ray resource: one per core a node reserves for wall-clock timing
POLL_S = 5.0  # how often a waiting evaluation checks that some live node can still run it
MAX_PROBLEM_BYTES = 4 << 20  # a problem folder travels with the tasks; anything this big is not a problem folder


class ClusterLost(UserError):
    """The Ray cluster went away mid-run; what was measured is stored, `autocomp resume` continues."""


@dataclass(frozen=True)
class Recipe:
    """What a worker needs to rebuild the evaluator: the target's name, the problem folder's files
    (a worker node need not share our file system) and the evaluator's settings."""

    target: str
    problem_dir: str  # the folder's name
    files: tuple[tuple[str, bytes], ...]
    settings: str  # EvalSettings as JSON

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps([self.target, self.problem_dir, self.settings]).encode())
        for name, data in self.files:
            digest.update(name.encode() + b"\0" + data)
        return digest.hexdigest()[:20]


def recipe_for(target: str, problem_root: Path, settings_json: str) -> Recipe:
    files, total = [], 0
    for path in sorted(p for p in problem_root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        data = path.read_bytes()
        total += len(data)
        if total > MAX_PROBLEM_BYTES:
            raise UserError(f"{problem_root}: the problem folder is over {MAX_PROBLEM_BYTES >> 20} MiB; it is sent to "
                            "every Ray worker, so keep only problem.toml, the initial code, reference.py and small data there")
        files.append((str(path.relative_to(problem_root)), data))
    return Recipe(target, problem_root.name, tuple(files), settings_json)


def split_resources(needs: dict[str, float]) -> dict[str, Any]:
    """Ray's task options for a resource dict: CPU and GPU have their own options."""
    custom = {k: v for k, v in needs.items() if k not in ("CPU", "GPU")}
    return {"num_cpus": needs.get("CPU", 0), "num_gpus": needs.get("GPU", 0), "resources": custom}


def missing_resources(needs: dict[str, float], nodes: list[dict[str, Any]]) -> list[str] | None:
    """None when some live node offers everything in `needs`; else what the best node lacks."""
    best: list[str] | None = None
    for node in nodes:
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        lacking = [name for name, amount in needs.items() if have.get(name, 0) < amount]
        if not lacking:
            return None
        if best is None or len(lacking) < len(best):
            best = lacking
    return best if best is not None else sorted(needs)


class RayExecutor:
    """The Executor seam over a Ray cluster (see the module docstring)."""

    def __init__(self, recipe: Recipe, needs: dict[str, float], exclusive_timing: bool, address: str,
                 max_retries: int, _shared: "RayExecutor | None" = None) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("[eval] executor = \"ray\" needs Ray: pip install 'autocomp[ray]'") from None
        self._ray, self.recipe, self.exclusive_timing, self.address = ray, recipe, exclusive_timing, address
        self.max_retries = max_retries
        self.needs = {**needs, **({TIMING_CORE: 1} if exclusive_timing and json.loads(recipe.settings).get("time", True) else {})}
        self._owner = _shared is None
        if _shared is None:
            _connect(ray, address)
        self._check_feasible()
        self._recipe_ref = ray.put(recipe)
        self._task = ray.remote(evaluate_on_worker).options(
            **split_resources(self.needs), max_retries=max_retries, retry_exceptions=False)
        self._waiters = ThreadPoolExecutor(max_workers=64, thread_name_prefix="ray-wait")
        self._feasible_at, self._feasible_lock = 0.0, threading.Lock()
        self._lost: str | None = _shared._lost if _shared is not None else None  # set once the head is gone
        host, _, port = ray.get_runtime_context().gcs_address.rpartition(":")
        self._gcs = (host, int(port))

    # ---- the seam ---------------------------------------------------------------------

    def submit(self, code: str) -> "Future[EvalResult]":
        return self._start("evaluate", code)

    def duel(self, code: str, rival: str) -> "Future[EvalResult]":
        return self._start("duel", code, rival)

    def variant(self, update: dict[str, Any]) -> "RayExecutor":
        settings = json.dumps({**json.loads(self.recipe.settings), **update})
        base = {k: v for k, v in self.needs.items() if k != TIMING_CORE}
        return RayExecutor(replace(self.recipe, settings=settings), base, self.exclusive_timing, self.address,
                           self.max_retries, _shared=self)

    def shutdown(self) -> None:
        self._waiters.shutdown(wait=True, cancel_futures=True)
        if self._owner and self._lost is None and self._ray.is_initialized():  # with the head gone it would hang
            self._ray.shutdown()

    # ---- driver side ------------------------------------------------------------------

    def _start(self, stage: str, *codes: str) -> "Future[EvalResult]":
        if self._lost is not None:
            raise ClusterLost(self._lost)
        try:
            ref = self._task.remote(self._recipe_ref, stage, codes)
        except Exception as exc:  # the cluster is gone before we could even submit
            raise ClusterLost(_lost_message(self.address, exc)) from None
        return self._waiters.submit(self._collect, ref)

    def _collect(self, ref: Any) -> EvalResult:
        ray = self._ray
        exceptions = ray.exceptions
        task_lost = tuple(getattr(exceptions, name) for name in (
            "WorkerCrashedError", "NodeDiedError", "ObjectLostError", "TaskCancelledError", "OutOfMemoryError",
            "LocalRayletDiedError", "ActorDiedError") if hasattr(exceptions, name))
        while True:
            try:
                payload = ray.get(ref, timeout=POLL_S)
                break
            except exceptions.GetTimeoutError:
                lacking = self._lacking()
                if lacking:
                    ray.cancel(ref, force=True)
                    return EvalResult(outcome=Outcome.INFRA_FAILURE, error=(
                        f"no live Ray node offers {', '.join(lacking)} any more, so this evaluation cannot run"))
            except task_lost as exc:
                return EvalResult(outcome=Outcome.INFRA_FAILURE, error=(
                    f"the Ray worker measuring it was lost (retried up to {self.max_retries} times): "
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"))
            except exceptions.RayTaskError as exc:  # the task could not run our code there: the node, not the kernel
                first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                return EvalResult(outcome=Outcome.INFRA_FAILURE, error=(
                    f"the Ray task failed on its node ({first}); is the same autocomp installed on every node?"))
            except ClusterLost:
                raise
            except Exception as exc:  # the connection to the cluster itself
                self._lost = _lost_message(self.address, exc)
                raise ClusterLost(self._lost) from None
        if "problem_error" in payload:
            raise ProblemError(*payload["problem_error"])
        if "unfit" in payload:
            raise UserError(payload["unfit"])
        return EvalResult.model_validate(payload)

    def _lacking(self) -> list[str] | None:
        """What no live node offers any more (checked at most every POLL_S across all waiters).

        The head is probed first with a plain TCP connect: with the head gone, Ray's own client
        retries for a minute and then ends the process, so a lost head must be noticed sooner."""
        with self._feasible_lock:
            if self._lost is not None:
                raise ClusterLost(self._lost)
            if time.monotonic() - self._feasible_at < POLL_S:
                return None
            self._feasible_at = time.monotonic()
            try:
                with socket.create_connection(self._gcs, timeout=POLL_S):
                    pass
                nodes = self._ray.nodes()
            except Exception as exc:
                self._lost = _lost_message(self.address, exc)
                raise ClusterLost(self._lost) from None
        return missing_resources(self.needs, nodes)

    def _check_feasible(self) -> None:
        lacking = missing_resources(self.needs, self._ray.nodes())
        if lacking:
            label = json.dumps({name: self.needs[name] for name in lacking if name not in ("CPU", "GPU")})
            fix = (f"add a node that has them: ray start --address=HEAD:PORT --resources='{label}'"
                   if label != "{}" else "add a node with more CPUs/GPUs (ray start --num-cpus/--num-gpus)")
            why = (" (a timed evaluation holds one timing_core: start a node with one per core it may time on)"
                   if TIMING_CORE in lacking else "")
            raise UserError(f"no node of the Ray cluster at {self.address} offers {', '.join(lacking)} "
                            f"(each evaluation of {self.recipe.target}/{self.recipe.problem_dir} needs "
                            f"{json.dumps(self.needs)}){why}; {fix}")


def _connect(ray: Any, address: str) -> None:
    if ray.is_initialized():
        return
    _cluster_messages_to_stderr()
    try:
        if address == "local":  # a private one-node cluster; one timing core, like the local pool
            ray.init(resources={TIMING_CORE: 1}, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _system_config={"worker_niceness": 0})  # see TIMING_CORE's note
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r} ([eval] address): {type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}; start one with "
                        "`ray start --head`, or set address = \"local\" to start a private one") from None


def _cluster_messages_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages ("Task ... failed, retrying") to stdout
    even with log_to_driver off, which would corrupt `--json` output; send them to stderr, where
    the run's log goes. (Ray 2.60 has no option for this; the pinned version's hook is wrapped.)"""
    from ray._private import worker

    original = worker.print_to_stdstream
    if getattr(original, "_autocomp_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr._autocomp_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _lost_message(address: str, exc: BaseException) -> str:
    return (f"lost the Ray cluster at {address} ({type(exc).__name__}); every finished evaluation is stored: "
            "continue with `autocomp resume RUN_DIR` once the cluster is back")


# ---- worker side ----------------------------------------------------------------------

# per worker process: built once per recipe and core, kept for the last KEPT_RECIPES recipes (a run
# uses a few: its evaluation settings, the cold check's); a worker outlives runs, so an older
# recipe's evaluators are closed (their scratch folders and compiled objects removed), and all of
# them when the worker exits (a killed worker's folders go at the next sweep: evaluation/scratch.py)
KEPT_RECIPES = 4
_evaluators: OrderedDict[str, dict[int | None, Evaluator]] = OrderedDict()
_node_timing_cores: int | None = None


def evaluate_on_worker(recipe: Recipe, stage: str, codes: tuple[str, ...]) -> dict[str, Any]:
    """One evaluation (`stage` "evaluate") or duel ("duel") on this node, as the target's own
    evaluator does it; returns the result as JSON with `details.node`, or a problem error."""
    import ray

    node = {"id": ray.get_runtime_context().get_node_id(), "host": platform.node(), "niceness": os.nice(0)}
    timed = TIMING_CORE in (ray.get_runtime_context().get_assigned_resources() or {})
    try:
        with _timing_core(timed) as core:
            evaluator = _evaluator(recipe, core)
            result = getattr(evaluator, stage)(*codes)
    except ProblemError as exc:
        return {"problem_error": [exc.file, exc.field, str(exc).removeprefix(f"{exc.file}: {exc.field}: ")]}
    except _Unfit as exc:
        return {"unfit": f"Ray node {node['host']} ({node['id'][:12]}) offers the resources but cannot run it: {exc}"}
    except Exception as exc:  # our bug, not the candidate's (as in LocalExecutor)
        result = EvalResult(outcome=Outcome.HARNESS_ERROR, error=f"{type(exc).__name__}: {exc}")
    details = {**result.details, "node": node}
    if timed and node["niceness"] > 0:  # the sandboxed harness inherits it: a busy core preempts it more often
        details["flags"] = [*details.get("flags", []), f"timed at niceness {node['niceness']} (Ray starts workers at 15): "
                            "start the node with RAY_worker_niceness=0"]
    return result.model_copy(update={"details": details}).model_dump(mode="json")


class _Unfit(Exception):
    """This node declares the resources but the target says it cannot run here."""


def _evaluator(recipe: Recipe, core: int | None) -> Evaluator:
    """This worker's evaluator for the recipe on `core`, built on first use; using a recipe makes
    it the most recent, and the evaluators of recipes beyond the last KEPT_RECIPES are closed."""
    by_core = _evaluators.get(recipe.key, {})
    if core not in by_core:
        from autocomp.evaluation.base import EvalSettings
        from autocomp.problem import load_problem
        from autocomp.targets.registry import get_target

        target = get_target(recipe.target)
        reason = target.unavailable_reason()
        if reason:
            raise _Unfit(reason)
        settings = EvalSettings.model_validate_json(recipe.settings)
        if core is not None:
            settings = settings.model_copy(update={"core": core})
        by_core[core] = target.evaluator(load_problem(_unpack(recipe)), settings)
    _evaluators[recipe.key] = by_core
    _evaluators.move_to_end(recipe.key)
    while len(_evaluators) > KEPT_RECIPES:
        _close(_evaluators.popitem(last=False)[1])
    return by_core[core]


def close_evaluators() -> None:
    """Close every evaluator this worker built (registered to run when the worker exits)."""
    while _evaluators:
        _close(_evaluators.popitem()[1])


def _close(by_core: dict[int | None, Evaluator]) -> None:
    for evaluator in by_core.values():
        evaluator.close()


atexit.register(close_evaluators)


def _unpack(recipe: Recipe) -> Path:
    """The problem folder on this node, written once per content (atomically: workers race)."""
    base = _mkdirs(Path(tempfile.gettempdir()) / "autocomp-ray-problems" / recipe.key)
    root = base / recipe.problem_dir
    if root.is_dir():
        return root
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=base))
    for name, data in recipe.files:
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:
        staging.rename(root)
    except OSError:  # another worker got there first
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _mkdirs(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _timing_core(timed: bool) -> Iterator[int | None]:
    """Hold one of this node's timing cores for a timed evaluation: the last N cores this process
    may use (N: the node's `timing_core`), a free one first, each guarded by the machine-wide
    `timing.core_lock`, so two Ray nodes on one machine (or a Ray node and a local run, or the
    vendor timer) never time on the same core at once. The evaluator then takes the same lock,
    which this thread already holds."""
    if not timed:
        yield None
        return
    from autocomp.evaluation.timing import free_core_lock

    allowed = sorted(os.sched_getaffinity(0))
    with free_core_lock(allowed[-max(1, min(_timing_cores_here(), len(allowed))):]) as core:
        yield core


def _timing_cores_here() -> int:
    global _node_timing_cores
    if _node_timing_cores is None:
        import ray

        me = ray.get_runtime_context().get_node_id()
        total = next((n["Resources"].get(TIMING_CORE, 1) for n in ray.nodes() if n["NodeID"] == me), 1)
        _node_timing_cores = int(total)
    return _node_timing_cores
