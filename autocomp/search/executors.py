"""Which executor a run's evaluations go to ([eval] executor): the local pool or a Ray cluster.

The one place that turns [eval] into an Executor, so the search, the referee and `autocomp eval`
all place evaluations the same way. Ray is imported only when it is chosen.
"""

from __future__ import annotations

from autocomp.config import EvalConfig
from autocomp.errors import UserError
from autocomp.evaluation.base import Evaluator
from autocomp.evaluation.executor import Executor, LocalExecutor
from autocomp.problem import Problem
from autocomp.targets.base import Target


def make_evaluator(target: Target, problem: Problem, settings: EvalConfig) -> Evaluator:
    """This machine's evaluator for `problem`: the target's own, or with `[eval] emulate` its
    functional emulator (correctness only, never timed)."""
    if not settings.emulate:
        return target.evaluator(problem, settings)
    evaluator = target.emulated_evaluator(problem, settings.model_copy(update={"time": False}))
    if evaluator is None:
        raise UserError(f"the {target.name} target has no emulator; run without --emulate "
                        "(--emulate is for targets whose hardware this machine may lack and that ship an emulator or interpreter)")
    return evaluator


def open_executor(target: Target, problem: Problem, settings: EvalConfig, evaluator: Evaluator) -> Executor:
    """`evaluator` is this machine's evaluator for the problem: the local pool runs it; with Ray
    it only says whether evaluations are timed (each worker builds its own from the same settings)."""
    if settings.executor == "local":
        return LocalExecutor(evaluator, build=lambda update: make_evaluator(target, problem, settings.model_copy(update=update)))
    from autocomp.evaluation.ray_executor import RayExecutor, recipe_for

    recipe = recipe_for(target.name, problem.root, settings.evaluator_settings().model_dump_json())
    return RayExecutor(recipe, {**target.resources(problem), **settings.resources}, evaluator.exclusive_timing,
                       settings.address, settings.max_retries)
