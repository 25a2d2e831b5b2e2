"""The Agent protocol and the work items the search hands to agents.

An ensemble mixes agents freely because they all answer the same three questions:
propose a plan for this parent, implement this plan, or (single-call mode) both.
Failures are values (`error` set), never exceptions and never text posing as output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from autocomp.config import ReuseStep
from autocomp.llm.base import ProviderError
from autocomp.problem import Problem
from autocomp.store.runstore import RunStore
from autocomp.targets.base import KnowledgePack, MenuItem, Target

__all__ = ["Agent", "AgentContext", "CALL_FAILED", "Code", "CodeJob", "MenuJob", "Parent", "Plan", "PlanJob",
           "ProviderError", "RepairJob", "Tried", "call_failed"]

# How a plan or code whose model call failed (the server was down, the retries ran out) says so.
# Such a failure is not an answer: `resume` asks again, where it reuses every stored answer.
CALL_FAILED = "LLM call failed"


def call_failed(error: str | None) -> bool:
    """Whether a stored plan or code failed because its model call did (not because of the reply)."""
    return bool(error) and str(error).startswith(CALL_FAILED)


@dataclass(frozen=True)
class Parent:
    """A beam member as agents see it: its code and what was measured about it."""

    id: int
    code: str
    feedback: str


@dataclass(frozen=True)
class Tried:
    """One earlier attempt near a parent, for the plan prompt's search history: what was
    tried, by whom in the lineage, and what it measured."""

    relation: str  # "this code", "an ancestor", "a sibling" (a child of this code's parent)
    menu_item: str | None
    plan: str  # the plan's gist (its first lines)
    effect: str  # e.g. "1.32x faster than its parent", "wrong_answer", "compile_error"


@dataclass(frozen=True)
class PlanJob:
    parent: Parent
    menu: tuple[MenuItem, ...]  # already thinned by dropout, in prompt order
    sample_index: int
    seq: int
    seed: int  # for agents that make random choices; derived from the job's position
    # The same agent's plan jobs that come before this one in this iteration (beam order, then
    # slot). Jobs run concurrently, so an agent that must not propose what a sibling proposes
    # (the tuner) re-derives the siblings' choices from these.
    earlier: tuple[PlanJob, ...] = ()
    reuse: ReuseStep | None = None  # optimize --reuse: the step of another run's schedule to apply now
    history: tuple[Tried, ...] = ()  # what was already tried from this parent, its ancestors and siblings


@dataclass(frozen=True)
class CodeJob:
    parent: Parent
    plan_text: str
    sample_index: int
    seq: int
    seed: int


@dataclass(frozen=True)
class RepairJob:
    """A failed candidate sent back to its code model: the code, its plan and the failure."""

    plan_text: str
    code: str  # the failed code
    failure: str  # the precise failure (search/repair.py: failure_report)
    attempt: int  # 1 for the first repair of this candidate
    seq: int


@dataclass(frozen=True)
class MenuJob:
    """Before the search: propose `count` extra menu items for this problem."""

    menu: tuple[MenuItem, ...]  # the shipped menu, for reference
    initial_code: str
    feedback: str  # the initial code's measured performance
    count: int


@dataclass(frozen=True)
class Plan:
    text: str | None
    menu_item: str | None = None
    error: str | None = None
    llm_call_id: int | None = None
    own_strategy: bool = False  # the plan names a strategy of its own instead of a menu item


@dataclass(frozen=True)
class Code:
    code: str | None
    error: str | None = None
    llm_call_id: int | None = None
    plan: Plan | None = field(default=None)  # single-call mode: the plan the reply contained


@dataclass(frozen=True)
class AgentContext:
    """What every agent may use. Built once per run."""

    problem: Problem
    target: Target
    knowledge: KnowledgePack
    store: RunStore
    temperature: float | None
    max_tokens: int | None
    seed: int = 0  # the run's seed, for agents whose choices must be reproducible


class Agent(Protocol):
    name: str  # the model string; recorded as plan_model / code_model
    repairs: bool  # whether `repair` and `extend_menu` do anything (the tuner declares False)

    def plan(self, job: PlanJob) -> Plan: ...

    def implement(self, job: CodeJob) -> Code: ...

    def direct(self, job: PlanJob) -> Code: ...

    def repair(self, job: RepairJob) -> Code: ...

    def extend_menu(self, job: MenuJob) -> tuple[tuple[MenuItem, ...], str | None]:
        """(new menu items, error): items this agent proposes for the problem; error when none."""
        ...
