"""The search loop: expand -> evaluate -> confirm new leads by duel -> select, one
iteration at a time, then the final pick.

Read this file top to bottom to know what a run does. Everything is deterministic given
the seed, the model replies and the measurements (evaluations and duels), and all three
are in the run store, so `resume` simply runs the loop again: stored plans, candidates,
evaluations and duels are reused, and only the missing work is done. The duels, the final
pick and the cold check are the referee's (`search/referee.py`); this file is the loop.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from autocomp.agents.base import Agent, AgentContext, Code, CodeJob, MenuJob, Parent, Plan, PlanJob, RepairJob, Tried, call_failed
from autocomp.agents.llm_agent import LLMAgent
from autocomp.config import ReuseStep, RunConfig, SearchConfig
from autocomp.errors import ModelServerDown, UserError
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.llm.budget import budget_stop, time_stop
from autocomp.llm.model_string import split_model
from autocomp.llm.registry import make_agent_class
from autocomp.problem import Problem
from autocomp.search.candidate import Candidate, code_hash
from autocomp.search.executors import make_evaluator, open_executor
from autocomp.search.referee import Referee
from autocomp.search.repair import failure_report, repairable
from autocomp.search.strategies import MENU_EVENT, extended_items
from autocomp.search.selection import select, should_stop_early
from autocomp.store.runstore import UNRELIABLE, RunStore
from autocomp.targets.base import MenuItem, Target

Log = Callable[[str], None]


@dataclass
class SearchSummary:
    run_dir: str
    best: Candidate
    iterations: int
    candidates: int
    llm_calls: int
    stopped: str
    history: list[float] = field(default_factory=list)  # the leader's rank (Candidate.rank) after each iteration
    validation: EvalResult | None = None  # the winner re-evaluated on fresh inputs after the search
    cold_validation: EvalResult | None = None  # ... and timed with cold caches (None: not a wall-clock target)


def split_work(count: int, models: list[str]) -> list[str]:
    """Divide `count` samples across models: floor(count/m) each, the first count % m get one more."""
    base, extra = divmod(count, len(models))
    return [m for i, m in enumerate(models) for _ in range(base + (1 if i < extra else 0))]


def thin_menu(menu: tuple[MenuItem, ...], keep: float, rng: random.Random) -> tuple[MenuItem, ...]:
    """Menu dropout: each item survives with probability `keep`; never leave the menu empty."""
    kept = tuple(item for item in menu if rng.random() < keep)
    return kept or (rng.choice(menu),)


@dataclass(frozen=True)
class PlanWork:
    """One plan (or, with skip_planning, direct) job of an iteration and where it sits."""

    parent: Candidate
    key: str  # the plan's position key, e.g. "i2/c7/p1"
    model: str  # the planning (or direct) model
    job: PlanJob


@dataclass(frozen=True)
class CodeWork:
    """One implementation job: a recorded plan handed to a coder."""

    parent: Candidate
    key: str  # the candidate's position key, e.g. "i2/c7/p1/k0"
    plan_model: str
    coder: str
    plan_id: int
    plan: Plan
    job: CodeJob


@dataclass(frozen=True)
class RepairWork:
    """One repair job: a failed candidate sent back to its code model."""

    failed: Candidate
    key: str  # the repaired candidate's position key: the failed one's plus "/rN"
    job: RepairJob


class Search:
    def __init__(self, problem: Problem, target: Target, config: RunConfig, store: RunStore, log: Log = lambda _: None) -> None:
        self.problem, self.target, self.config, self.store, self.log = problem, target, config, store, log
        store.code_suffix = problem.language.suffix  # best.py for Triton, best.c for C
        self.cfg = config.search
        ctx = AgentContext(problem, target, target.knowledge, store, config.llm.temperature, config.llm.max_tokens,
                           self.cfg.seed)
        self.agents: dict[str, Agent] = {}
        for model in dict.fromkeys(config.models + config.coders):
            llm = bool(split_model(model)[0])
            self.agents[model] = LLMAgent(model, ctx, config.llm) if llm else make_agent_class(model)(model, ctx)
        self.evaluator = make_evaluator(target, problem, config.eval)
        try:
            self.executor = open_executor(target, problem, config.eval, self.evaluator)
        except BaseException:  # no cluster, or none with the resources: nothing else to clean up yet
            self.evaluator.close()
            raise
        self.referee = Referee(config, store, self.executor, log)
        self._seq: dict[tuple[str, str], int] = {}
        self.menu: tuple[MenuItem, ...] = target.knowledge.menu_for(problem.spec.family)
        self._inflight: dict[str, Future[EvalResult]] = {}  # code hash -> evaluation started by `_start`
        self._inflight_lock = threading.Lock()

    # ---- the loop ------------------------------------------------------------------

    def run(self) -> SearchSummary:
        started, last = time.monotonic(), 0.0  # last: the previous iteration's wall time (--max-minutes)
        try:
            root = self._root()
            beam, history, stopped = [root], [root.rank], "completed all iterations"
            self.log(f"initial code: {root.result.summary() if root.result else ''}")
            self.menu = (*self.menu, *self._extended_menu(root))
            reuse = self.config.reuse
            if reuse and reuse.steps:
                self.log(f"reusing the winning schedule of {reuse.steps[0].source}: iterations 1-{len(reuse.steps)} apply its "
                         f"{len(reuse.steps)} steps (beam {reuse.beam}, {reuse.plans} plans per member), then the ordinary search")
            for iteration in range(1, self.cfg.iterations + 1):
                step = self._reused_step(iteration)
                if step is None and should_stop_early(history, self.cfg.early_stop):
                    stopped = f"no improvement in {self.cfg.early_stop} iterations"
                    break
                over_budget = self._over_budget(iteration) or time_stop(time.monotonic() - started, last, self.cfg.max_minutes)
                if over_budget:
                    stopped = over_budget
                    break
                iteration_start = time.monotonic()
                self.store.iteration = iteration
                calls_before = self.store.last_llm_call_id()
                children = self._expand(beam, iteration, step)
                self._stop_if_unreachable(iteration, calls_before)
                self._evaluate(children)
                children += self._repair(children, iteration)
                self.referee.confirm_leads(beam[0], children, iteration)
                beam = select(beam, children, iteration, self._selection_config(step))
                history.append(beam[0].rank)
                self.store.record_beam(iteration, [c.id for c in beam], beam[0].id, beam[0].rank)
                self._log_iteration(iteration, children, beam)
                last = time.monotonic() - iteration_start
            llm_calls = self.store.llm_calls()
            calls = sum(1 for c in llm_calls if c["status"] == "ok")
            if llm_calls and not calls:  # a finished run must not read like a search that found nothing better
                stopped += f"; all {len(llm_calls)} model calls failed, so no model-written code was tried"
            best, validation = self.referee.final_pick(beam)
            cold = self.referee.cold_check(best)
            self.store.set_status("finished", stop_reason=stopped)
            self.store.record_final_pick(best.id, stopped)
            return SearchSummary(str(self.store.run_dir), best, len(history) - 1,
                                 len(self.store.candidates()), calls, stopped, history, validation, cold)
        finally:
            self.executor.shutdown()
            self.evaluator.close()

    def _stop_if_unreachable(self, iteration: int, calls_before: int, what: str = "model calls") -> None:
        """Stop the run when no model call since `calls_before` (an iteration's plans and codes,
        or one round of its repairs) reached its server (none running, a wrong host): every later
        call would fail the same way after its retries, and a run that "completes" so would look
        like a search that found nothing."""
        calls = self.store.llm_call_statuses_since(calls_before)
        if calls and all(c["status"] == "unreachable" for c in calls):
            raise ModelServerDown(
                f"no model server answered: all {len(calls)} {what} of iteration {iteration} failed to connect "
                f"(first: {calls[0]['error']}); start the server (or fix its address), then "
                f"`autocomp resume {self.store.run_dir}` asks those calls again")

    def _reused_step(self, iteration: int) -> ReuseStep | None:
        """The schedule step iteration `iteration` applies (optimize --reuse), if any."""
        reuse = self.config.reuse
        return reuse.steps[iteration - 1] if reuse and iteration <= len(reuse.steps) else None

    def _selection_config(self, step: ReuseStep | None) -> SearchConfig:
        """Replaying a schedule exploits, so its iterations keep a smaller beam."""
        if step is None or self.config.reuse is None:
            return self.cfg
        return self.cfg.model_copy(update={"beam": self.config.reuse.beam})

    def _over_budget(self, iteration: int) -> str | None:
        """Stop before an iteration that would take the run past --max-cost / --max-llm-calls."""
        llm = self.config.llm
        if llm.max_cost is None and llm.max_calls is None:
            return None
        spent, last = self.store.spend(0, iteration - 1), self.store.spend(iteration - 1, iteration - 1)
        return budget_stop(spent, last, llm.max_cost, llm.max_calls)

    def _root(self) -> Candidate:
        root = self._candidate("root", iteration=0, code=self.problem.initial_code, origin="initial")
        self._evaluate([root])
        if root.result is not None and root.result.outcome is Outcome.INFRA_FAILURE:
            raise UserError(f"the initial code's evaluation was lost to the infrastructure ({root.result.error}); "
                            "nothing is stored for it: continue with `autocomp resume RUN_DIR`")
        if not root.correct:
            raise UserError(f"the initial code of {self.problem.name} is not correct, so there is nothing to optimize: {root.result.summary() if root.result else root.error}")
        return root

    # ---- expand: plans, then implementations -------------------------------------------

    def _expand(self, beam: list[Candidate], iteration: int, step: ReuseStep | None = None) -> list[Candidate]:
        """Plan jobs for every beam member, then their implementations. During a reused schedule
        step every plan is told to apply that step, with its menu item as the only choice."""
        jobs: list[PlanWork] = []
        earlier: dict[str, tuple[PlanJob, ...]] = {}  # model -> its jobs so far this iteration
        full_menu = self.menu
        plans = self.config.reuse.plans if step is not None and self.config.reuse else self.cfg.plans
        for parent in beam:
            tried = self._history(parent, iteration)
            for p, model in enumerate(split_work(max(plans, len(self.config.models)), self.config.models)):
                key = f"i{iteration}/c{parent.id}/p{p}"
                rng = random.Random(f"{self.cfg.seed}/{key}")
                menu = thin_menu(full_menu, self.cfg.menu_keep, rng)
                if step is not None:  # the step's item, described as in this target's menu when it is there
                    menu = tuple(i for i in full_menu if i.name == step.menu_item) or (MenuItem(step.menu_item or "the reused step", ""),)
                phase = "direct" if self.cfg.skip_planning else "plan"
                job = PlanJob(Parent(parent.id, parent.code or "", parent.feedback), menu, p,
                              self._next_seq(model, phase), rng.getrandbits(32), earlier.get(model, ()), step, tried)
                earlier[model] = (*job.earlier, job)
                jobs.append(PlanWork(parent, key, model, job))
        if self.cfg.skip_planning:
            return self._direct(jobs, iteration)
        plans = self._map(lambda work: self._plan(work.key, self.agents[work.model], work.job), jobs)
        code_jobs: list[CodeWork] = []
        for work, (plan_id, plan) in zip(jobs, plans):
            if plan_id is None:  # new plan: record it (sequentially, so ids follow job order)
                plan_id = self.store.add_plan(
                    key=work.key, iteration=iteration, parent_id=work.parent.id, model=work.model, menu_item=plan.menu_item,
                    text=plan.text, status="ok" if plan.text is not None else "failed", error=plan.error,
                    llm_call_id=plan.llm_call_id)
                if plan.own_strategy:
                    self.log(f"plan {work.key} proposes its own strategy: {plan.menu_item}")
            if plan.text is None:
                continue
            for k, coder in enumerate(split_work(self.cfg.codes, self.config.coders)):
                cjob = CodeJob(work.job.parent, plan.text, k, self._next_seq(coder, "code"), work.job.seed + k)
                code_jobs.append(CodeWork(work.parent, f"{work.key}/k{k}", work.model, coder, plan_id, plan, cjob))
        codes = self._map(lambda work: self._existing(work.key) or self._start(self.agents[work.coder].implement(work.job)),
                          code_jobs)
        return [
            code if isinstance(code, Candidate) else self._candidate(
                work.key, iteration, code.code, "planned", parent_id=work.parent.id, plan_id=work.plan_id, plan=work.plan,
                plan_model=work.plan_model, code_model=work.coder, error=code.error, llm_call_id=code.llm_call_id)
            for work, code in zip(code_jobs, codes)
        ]

    def _plan(self, key: str, agent: Agent, job: PlanJob) -> tuple[int | None, Plan]:
        """A stored plan (with its id) if this position was planned before, else a new one (id None)."""
        row = self.store.plan_by_key(key)
        if row is not None and not call_failed(row["error"]):
            return row["id"], Plan(row["text"], row["menu_item"], row["error"], row["llm_call_id"])
        plan = agent.plan(job)
        if row is not None:  # its model call had failed (a server down): a failure is not an answer to reuse
            self.store.replace_plan(row["id"], plan.text, plan.menu_item, plan.error, plan.llm_call_id)
            return row["id"], plan
        return None, plan

    def _direct(self, jobs: list[PlanWork], iteration: int) -> list[Candidate]:
        codes = self._map(lambda work: self._existing(work.key) or self._start(self.agents[work.model].direct(work.job)), jobs)
        return [
            code if isinstance(code, Candidate) else self._candidate(
                work.key, iteration, code.code, "direct", parent_id=work.parent.id, plan=code.plan, plan_model=work.model,
                code_model=work.model, error=code.error, llm_call_id=code.llm_call_id)
            for work, code in zip(jobs, codes)
        ]

    # ---- repair ------------------------------------------------------------------------

    def _repair(self, children: list[Candidate], iteration: int) -> list[Candidate]:
        """Send each failed candidate back to its code model with the precise failure, up to
        `[search] repair` times; each repair is a new candidate (origin `repair`, the same parent
        and plan), evaluated like any other. Keys extend the failed one's (`.../k0/r1`), and the
        repair order is the children's order, so a resumed run asks the same calls in the same
        order and finds every stored one. A round whose every call finds no server stops the run
        as a dead server stops the plans (`_stop_if_unreachable`); a resume asks those calls again."""
        made: list[Candidate] = []
        current = children
        for attempt in range(1, self.cfg.repair + 1):
            works: list[RepairWork] = []
            for cand in current:
                agent = self.agents.get(cand.code_model or "")
                if cand.code is None or not repairable(cand.result) or agent is None or not agent.repairs:
                    continue
                job = RepairJob(cand.plan_text or "(no plan was recorded)", cand.code, failure_report(cand.result),  # type: ignore[arg-type]
                                attempt, self._next_seq(agent.name, "repair"))
                works.append(RepairWork(cand, f"{cand.key}/r{attempt}", job))
            if not works:
                break
            calls_before = self.store.last_llm_call_id()
            codes = self._map(lambda work: self._existing(work.key)
                              or self._start(self.agents[work.failed.code_model].repair(work.job)),  # type: ignore[index]
                              works)
            fixed: list[Candidate] = []
            for work, code in zip(works, codes):
                if isinstance(code, Candidate):
                    fixed.append(code)
                    continue
                failed = work.failed
                row = self.store.candidate(failed.id)
                fixed.append(self._candidate(
                    work.key, iteration, code.code, "repair", parent_id=failed.parent_id, plan_id=row["plan_id"] if row else None,
                    plan=Plan(failed.plan_text, failed.menu_item), plan_model=failed.plan_model, code_model=failed.code_model,
                    error=code.error, llm_call_id=code.llm_call_id))
            self._stop_if_unreachable(iteration, calls_before, f"repair calls (attempt {attempt})")
            self._evaluate(fixed)
            made += fixed
            current = fixed
        return made

    # ---- menu and history --------------------------------------------------------------

    def _extended_menu(self, root: Candidate) -> tuple[MenuItem, ...]:
        """`[search] extend_menu = N`: N extra menu items proposed for this problem by the first
        planning model that can, before the search. Stored as an event, so a resumed run uses the
        same items without asking again."""
        if not self.cfg.extend_menu:
            return ()
        stored = extended_items(self.store)
        if stored:
            return stored
        agent = next((self.agents[m] for m in self.config.models if self.agents[m].repairs), None)
        if agent is None:
            self.log("extend_menu: no planning model can propose menu items (the tuner cannot); the menu stays as shipped")
            return ()
        items, error = agent.extend_menu(MenuJob(self.menu, root.code or "", root.feedback, self.cfg.extend_menu))
        if error:
            self.log(f"extend_menu: {agent.name} proposed no menu items ({error}); the menu stays as shipped")
            return ()
        self.store.event(MENU_EVENT, 0, model=agent.name, items=[{"name": i.name, "description": i.description} for i in items])
        self.log(f"extend_menu: {agent.name} added {len(items)} menu items: " + "; ".join(i.name for i in items))
        return items

    def _history(self, parent: Candidate, iteration: int) -> tuple[Tried, ...]:
        """What earlier iterations tried from `parent`, its parent and older ancestors, with the
        measured effect of each (newest first, at most HISTORY_LIMIT), for the plan prompt."""
        rows = {r["id"]: r for r in self.store.candidates()}
        relation: dict[int, str] = {}
        node, label = rows.get(parent.id), "this code"
        while node is not None:
            relation[node["id"]] = label
            node = rows.get(node["parent_id"]) if node["parent_id"] is not None else None
            label = "its parent" if label == "this code" else "an older ancestor"
        lineage = set(relation)
        tried: list[Tried] = []
        for row in sorted(rows.values(), key=lambda r: r["id"], reverse=True):
            if row["iteration"] >= iteration or row["parent_id"] not in relation or not row["plan_text"]:
                continue
            origin = rows[row["parent_id"]]
            effect = _effect(row, origin)
            if row["id"] in lineage:
                effect += " (this step led to the current code)"
            if row["origin"] == "repair":
                effect = f"after a repair: {effect}"
            tried.append(Tried(relation[row["parent_id"]], row["menu_item"], _gist(row["plan_text"]), effect))
            if len(tried) == HISTORY_LIMIT:
                break
        return tuple(tried)

    # ---- evaluate ----------------------------------------------------------------------

    def _start(self, written: Code) -> Code:
        """Submit new code for evaluation as soon as a model has written it, so evaluations run
        while the iteration's other model calls are still out. Only the start moves: results are
        stored, in candidate order, by `_evaluate`, and identical or stored code is not submitted."""
        if written.code is not None:
            h = code_hash(written.code)
            with self._inflight_lock:
                if h not in self._inflight and self.store.evaluation(h) is None:
                    self._inflight[h] = self.executor.submit(written.code)
        return written

    def _evaluate(self, candidates: list[Candidate]) -> None:
        """Evaluate every candidate with code; identical code is evaluated once per run."""
        pending: dict[str, object] = {}
        for cand in candidates:
            if cand.code is None:
                cand.result = EvalResult(outcome=Outcome.LLM_FAILED, error=cand.error)
                continue
            h = code_hash(cand.code)
            stored = self.store.evaluation(h)
            if stored is not None:
                cand.result, cand.feedback = stored
            elif h not in pending:
                with self._inflight_lock:
                    started = self._inflight.pop(h, None)
                pending[h] = started or self.executor.submit(cand.code)
        unstored: dict[str, EvalResult] = {}
        for h, future in pending.items():
            result: EvalResult = future.result()  # type: ignore[attr-defined]
            if result.outcome is Outcome.INFRA_FAILURE:  # no verdict on the kernel: a resume evaluates it again
                unstored[h] = result
                self.log(f"evaluation lost to the infrastructure (not stored; a resume evaluates it again): {result.error}")
                continue
            feedback = self.target.feedback(self.problem, result)
            self.store.add_evaluation(h, result, feedback)
        for cand in candidates:
            if cand.code is not None and cand.result is None:
                h = code_hash(cand.code)
                if h in unstored:
                    cand.result, cand.feedback = unstored[h], ""
                else:
                    cand.result, cand.feedback = self.store.evaluation(h)  # type: ignore[misc]

    # ---- helpers -----------------------------------------------------------------------

    def _candidate(self, key: str, iteration: int, code: str | None, origin: str, parent_id: int | None = None,
                   plan_id: int | None = None, plan: Plan | None = None, plan_model: str | None = None,
                   code_model: str | None = None, error: str | None = None, llm_call_id: int | None = None) -> Candidate:
        existing = self._existing(key)
        if existing:
            return existing
        plan_text, menu_item = (plan.text, plan.menu_item) if plan else (None, None)
        row = dict(parent_id=parent_id, plan_id=plan_id, menu_item=menu_item, plan_text=plan_text, plan_model=plan_model,
                   code_model=code_model, origin=origin, code=code, code_hash=code_hash(code) if code is not None else None,
                   error=error, llm_call_id=llm_call_id)
        failed = self.store.candidate_by_key(key)  # stored, but its model call had failed: asked again
        if failed is not None:
            self.store.replace_candidate(failed["id"], **row)
            cid = failed["id"]
        else:
            cid = self.store.add_candidate(key=key, iteration=iteration, **row)
        return Candidate(cid, key, iteration, code, parent_id, plan_text, menu_item, plan_model, code_model, error)

    def _existing(self, key: str) -> Candidate | None:
        """The stored candidate at `key`, unless its model call failed (then it is asked again)."""
        row = self.store.candidate_by_key(key)
        if row is None or (row["code"] is None and call_failed(row["error"])):
            return None
        return Candidate(row["id"], key, row["iteration"], row["code"], row["parent_id"], row["plan_text"],
                         row["menu_item"], row["plan_model"], row["code_model"], row["error"])

    def _next_seq(self, model: str, phase: str) -> int:
        seq = self._seq.get((model, phase), 0)
        self._seq[(model, phase)] = seq + 1
        return seq

    def _map(self, fn, items: list) -> list:  # type: ignore[no-untyped-def]
        """Run agent work concurrently (model calls are I/O bound); results keep job order."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            return list(pool.map(fn, items))

    def _log_iteration(self, iteration: int, children: list[Candidate], beam: list[Candidate]) -> None:
        outcomes: dict[str, int] = {}
        for c in children:
            name = c.result.outcome.value if c.result else "none"
            outcomes[name] = outcomes.get(name, 0) + 1
        best = beam[0]
        self.store.event("iteration", iteration, outcomes=outcomes, beam=[c.id for c in beam], best_score=best.rank)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        made = f"{len(children)} candidates ({shown})" if children else "no new candidates (every plan failed or had nothing new)"
        failed = self.store.plan_errors(iteration)
        if not children and failed:  # say why, or the user only sees that nothing happened
            made += f"; {len(failed)} plans failed, first: {failed[0]}"
        repairs = [c for c in children if c.key.rsplit("/", 1)[-1].startswith("r")]
        if repairs:
            made += f"; {len(repairs)} were repairs, {sum(c.correct for c in repairs)} of them correct"
        ranked = f" (ranked {best.rank_note})" if best.rank_note else ""
        self.log(f"iteration {iteration}: {made}; best #{best.id}: {best.result.summary() if best.result else ''}{ranked}")


HISTORY_LIMIT = 12


def _gist(plan: str, width: int = 200) -> str:
    """A plan's first substantive line (not the `Chosen item` line), shortened."""
    lines = [line.strip() for line in plan.splitlines() if line.strip()]
    body = [line for line in lines if not line.lower().startswith(("chosen item", "new strategy"))] or lines
    text = " ".join(body)
    return text if len(text) <= width else text[: width - 3] + "..."


def _effect(row, origin) -> str:  # type: ignore[no-untyped-def]
    """What a candidate measured, relative to the code it was made from."""
    if row["code"] is None:
        return "no code (the model call failed or its reply held no code)"
    if row["outcome"] is None:
        return "not evaluated"
    if row["outcome"] != "ok":
        first = (row["eval_error"] or "").strip().splitlines()
        return row["outcome"] + (f" ({first[0][:120]})" if first else "")
    if row["score"] and origin["score"]:
        ratio = origin["score"] / row["score"]
        shaky = " (unreliable timing: too few calls ran unpreempted)" if _unreliable(row) or _unreliable(origin) else ""
        return f"correct, {ratio:.2f}x the speed of the code it was made from{shaky}"
    return "correct"


def _unreliable(row) -> bool:  # type: ignore[no-untyped-def]
    """Whether a stored evaluation carries the timing layer's unreliable mark (in its details)."""
    return bool(row["details_json"] and json.loads(row["details_json"]).get(UNRELIABLE))
