"""The search loop: expand -> evaluate -> confirm new leads by duel -> select, one
iteration at a time, then the final pick.

Read this file top to bottom to know what a run does. Everything is deterministic given
the seed, the model replies and the measurements (evaluations and duels), and all three
are in the run store, so `resume` simply runs the loop again: stored plans, candidates,
evaluations and duels are reused, and only the missing work is done.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from autocomp.agents.base import Agent, AgentContext, CodeJob, Parent, Plan, PlanJob, call_failed
from autocomp.agents.llm_agent import LLMAgent
from autocomp.config import ReuseStep, RunConfig, SearchConfig
from autocomp.errors import ModelServerDown, UserError
from autocomp.evaluation.executor import LocalExecutor
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.llm.budget import budget_stop, time_stop
from autocomp.llm.registry import make_agent_class, split_model
from autocomp.problem import Problem
from autocomp.search.candidate import Candidate, code_hash
from autocomp.search.selection import select, should_stop_early
from autocomp.store.runstore import RunStore
from autocomp.targets.base import MenuItem, Target

DUEL_MARGIN = 0.02  # a challenger must run this much faster than the leader, timed head to head, to take the lead
CLOSE_CALL = 0.10  # children scored within this much of the leader may duel it (a lucky leader score must not stick)

Log = Callable[[str], None]


def wins_duel(duel: EvalResult) -> bool:
    """Whether a challenger's duel with the leader hands it the lead: at least DUEL_MARGIN
    faster (less is a tie, which the incumbent wins; a failed duel wins nothing)."""
    return duel.speedup is not None and duel.speedup >= 1 + DUEL_MARGIN


@dataclass
class SearchSummary:
    run_dir: str
    best: Candidate
    iterations: int
    candidates: int
    llm_calls: int
    stopped: str
    history: list[float] = field(default_factory=list)
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


class Search:
    def __init__(self, problem: Problem, target: Target, config: RunConfig, store: RunStore, log: Log = lambda _: None) -> None:
        self.problem, self.target, self.config, self.store, self.log = problem, target, config, store, log
        self.cfg = config.search
        ctx = AgentContext(problem, target, target.knowledge, store, config.llm.temperature, config.llm.max_tokens,
                           self.cfg.seed)
        self.agents: dict[str, Agent] = {}
        for model in dict.fromkeys(config.models + config.coders):
            llm = bool(split_model(model)[0])
            self.agents[model] = LLMAgent(model, ctx, config.llm) if llm else make_agent_class(model)(model, ctx)
        self.evaluator = target.evaluator(problem, config.eval)
        self.executor = LocalExecutor(self.evaluator)
        self._seq: dict[tuple[str, str], int] = {}

    # ---- the loop ------------------------------------------------------------------

    def run(self) -> SearchSummary:
        started, last = time.monotonic(), 0.0  # last: the previous iteration's wall time (--max-minutes)
        try:
            root = self._root()
            beam, history, stopped = [root], [root.score], "completed all iterations"
            self.log(f"initial code: {root.result.summary() if root.result else ''}")
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
                self._confirm_leads(beam[0], children, iteration)
                beam = select(beam, children, iteration, self._selection_config(step))
                history.append(beam[0].score)
                self.store.record_beam(iteration, [c.id for c in beam], beam[0].id, beam[0].score)
                self._log_iteration(iteration, children, beam)
                last = time.monotonic() - iteration_start
            llm_calls = self.store.llm_calls()
            calls = sum(1 for c in llm_calls if c["status"] == "ok")
            if llm_calls and not calls:  # a finished run must not read like a search that found nothing better
                stopped += f"; all {len(llm_calls)} model calls failed, so no model-written code was tried"
            best, validation = self._final_pick(beam)
            cold = self._cold_check(best)
            self.store.set_status("finished", stop_reason=stopped)
            self.store.record_final_pick(best.id, stopped)
            return SearchSummary(str(self.store.run_dir), best, len(history) - 1,
                                 len(self.store.candidates()), calls, stopped, history, validation, cold)
        finally:
            self.executor.shutdown()
            self.evaluator.close()

    def _stop_if_unreachable(self, iteration: int, calls_before: int) -> None:
        """Stop the run when no model call of this iteration reached its server (none running,
        a wrong host): every later iteration would fail the same way after its retries, and a
        run that "completes" so would look like a search that found nothing."""
        calls = self.store.llm_call_statuses_since(calls_before)
        if calls and all(c["status"] == "unreachable" for c in calls):
            raise ModelServerDown(
                f"no model server answered: all {len(calls)} model calls of iteration {iteration} failed to connect "
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

    def _final_pick(self, beam: list[Candidate]) -> tuple[Candidate, EvalResult | None]:
        """Re-check the best `final_recheck` beam members on fresh inputs in new processes
        (hygiene R7), then let the survivors duel; return the winner with its re-check.

        Each measurement compares a kernel with the initial code at its own moment, and on a
        busy machine that ratio drifts (a compute-bound kernel and a memory-bound initial code
        slow down differently), so scores alone can mis-order close finalists. The survivors
        are ranked by the mean of their search and re-check scores; then the leader meets each
        other survivor in a duel, both timed call by call in one process, and a challenger at
        least DUEL_MARGIN faster takes the lead. A contender that fails its re-check is out.
        These are measurements, not model calls: a resumed run makes them again.
        """
        contenders = [c for c in beam if c.code is not None and c.correct][: self.cfg.final_recheck]
        if not contenders or (len(contenders) == 1 and contenders[0].key == "root"):
            return beam[0], beam[0].result
        futures = [(c, self.executor.submit(c.code)) for c in contenders]
        rechecked = [(c, f.result()) for c, f in futures]
        for c, result in rechecked:
            self.store.event("final_validation", candidate_id=c.id, result=result.model_dump(mode="json"))
            self.log(f"final re-check of #{c.id} on fresh inputs: {result.summary()}")
        valid = sorted(((c, r) for c, r in rechecked if r.correct), key=lambda cr: (cr[0].score + cr[1].score) / 2)
        if not valid:
            return beam[0], rechecked[0][1]
        best, result = valid[0]
        for challenger, challenger_result in valid[1:]:
            duel = self.executor.duel(str(challenger.code), str(best.code)).result()
            if duel.speedup is None:  # scores that need no duel (modeled cycles), or a duel that failed
                if not duel.correct:
                    self.log(f"duel of #{challenger.id} with #{best.id} failed: {duel.error}")
                continue
            self.store.event("final_duel", challenger_id=challenger.id, leader_id=best.id, result=duel.model_dump(mode="json"))
            self.log(f"duel: #{challenger.id} runs {duel.speedup:.2f}x as fast as #{best.id} (timed call by call in one process)")
            if wins_duel(duel):
                best, result = challenger, challenger_result
        if best is not beam[0]:
            self.log(f"#{best.id} is the final pick (the search ranked #{beam[0].id} first)")
        return best, result

    def _cold_check(self, best: Candidate) -> EvalResult | None:
        """The winner timed against the initial code once more, both flushed from every cache
        level before each call (hygiene R5.4, R7.1). The search times warm data, as a kernel
        called in a loop sees it; a layer whose operands come from DRAM may gain less. Reported
        next to the warm numbers; it does not change the pick. A search that already ran cold,
        an untimed one and modeled cycles (no caches to be cold) need no second look."""
        settings = self.config.eval
        if best.key == "root" or best.code is None or settings.cold_cache or not settings.time \
                or not self.evaluator.exclusive_timing:
            return None
        evaluator = self.target.evaluator(self.problem, settings.model_copy(update={"cold_cache": True}))
        executor = LocalExecutor(evaluator, workers=1)
        try:
            result = executor.submit(best.code).result()
        finally:
            executor.shutdown()
            evaluator.close()
        self.store.event("cold_validation", candidate_id=best.id, result=result.model_dump(mode="json"))
        self.log(f"#{best.id} with cold caches (its buffers and the initial code's flushed before every call): {result.summary()}")
        return result

    def _root(self) -> Candidate:
        root = self._candidate("root", iteration=0, code=self.problem.initial_code, origin="initial")
        self._evaluate([root])
        if not root.correct:
            raise UserError(f"the initial code of {self.problem.name} is not correct, so there is nothing to optimize: {root.result.summary() if root.result else root.error}")
        return root

    # ---- expand: plans, then implementations -------------------------------------------

    def _expand(self, beam: list[Candidate], iteration: int, step: ReuseStep | None = None) -> list[Candidate]:
        """Plan jobs for every beam member, then their implementations. During a reused schedule
        step every plan is told to apply that step, with its menu item as the only choice."""
        jobs: list[tuple[Candidate, str, str, PlanJob]] = []  # parent, key, model, job
        earlier: dict[str, tuple[PlanJob, ...]] = {}  # model -> its jobs so far this iteration
        full_menu = self.target.knowledge.menu_for(self.problem.spec.family)
        plans = self.config.reuse.plans if step is not None and self.config.reuse else self.cfg.plans
        for parent in beam:
            for p, model in enumerate(split_work(max(plans, len(self.config.models)), self.config.models)):
                key = f"i{iteration}/c{parent.id}/p{p}"
                rng = random.Random(f"{self.cfg.seed}/{key}")
                menu = thin_menu(full_menu, self.cfg.menu_keep, rng)
                if step is not None:  # the step's item, described as in this target's menu when it is there
                    menu = tuple(i for i in full_menu if i.name == step.menu_item) or (MenuItem(step.menu_item or "the reused step", ""),)
                phase = "direct" if self.cfg.skip_planning else "plan"
                job = PlanJob(Parent(parent.id, parent.code or "", parent.feedback), menu, p,
                              self._next_seq(model, phase), rng.getrandbits(32), earlier.get(model, ()), step)
                earlier[model] = (*job.earlier, job)
                jobs.append((parent, key, model, job))
        if self.cfg.skip_planning:
            return self._direct(jobs, iteration)
        plans = self._map(lambda item: self._plan(item[1], self.agents[item[2]], item[3]), jobs)
        code_jobs = []
        for (parent, key, model, job), (plan_id, plan) in zip(jobs, plans):
            if plan_id is None:  # new plan: record it (sequentially, so ids follow job order)
                plan_id = self.store.add_plan(
                    key=key, iteration=iteration, parent_id=parent.id, model=model, menu_item=plan.menu_item,
                    text=plan.text, status="ok" if plan.text is not None else "failed", error=plan.error,
                    llm_call_id=plan.llm_call_id)
            if plan.text is None:
                continue
            for k, coder in enumerate(split_work(self.cfg.codes, self.config.coders)):
                cjob = CodeJob(job.parent, plan.text, k, self._next_seq(coder, "code"), job.seed + k)
                code_jobs.append((parent, f"{key}/k{k}", model, coder, plan_id, plan, cjob))
        codes = self._map(lambda item: self._existing(item[1]) or self.agents[item[3]].implement(item[6]), code_jobs)
        return [
            code if isinstance(code, Candidate) else self._candidate(
                key, iteration, code.code, "planned", parent_id=parent.id, plan_id=plan_id, plan=plan,
                plan_model=model, code_model=coder, error=code.error, llm_call_id=code.llm_call_id)
            for (parent, key, model, coder, plan_id, plan, _), code in zip(code_jobs, codes)
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

    def _direct(self, jobs: list[tuple[Candidate, str, str, PlanJob]], iteration: int) -> list[Candidate]:
        codes = self._map(lambda item: self._existing(item[1]) or self.agents[item[2]].direct(item[3]), jobs)
        return [
            code if isinstance(code, Candidate) else self._candidate(
                key, iteration, code.code, "direct", parent_id=parent.id, plan=code.plan, plan_model=model,
                code_model=model, error=code.error, llm_call_id=code.llm_call_id)
            for (parent, key, model, _), code in zip(jobs, codes)
        ]

    # ---- evaluate ----------------------------------------------------------------------

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
                pending[h] = self.executor.submit(cand.code)
        for h, future in pending.items():
            result: EvalResult = future.result()  # type: ignore[attr-defined]
            feedback = self.target.feedback(self.problem, result)
            self.store.add_evaluation(h, result, feedback)
        for cand in candidates:
            if cand.code is not None and cand.result is None:
                cand.result, cand.feedback = self.store.evaluation(code_hash(cand.code))  # type: ignore[misc]

    def _confirm_leads(self, leader: Candidate, children: list[Candidate], iteration: int) -> None:
        """Only a child that beats the leader head to head takes the lead.

        A score compares a kernel with the initial code at its own moment; on a busy machine a
        lucky moment makes a noise "win" (the method's original implementation let a 0.1%
        win into the beam), and a lucky leader score holds off truly faster children. So the
        `confirm_leads` best children scored within CLOSE_CALL of the leader (or better) duel
        it, timed call by call in one process, and are ranked at the leader's score divided by
        how many times faster they ran (less than DUEL_MARGIN faster is a tie, which the
        incumbent wins). Other children that beat the leader's score rank level with it.
        Against the initial code the score already is such a comparison, and modeled targets
        need none (their duels return no speedup). Duels are stored, so a resumed run ranks as
        before without measuring again.
        """
        if leader.key == "root" or self.cfg.confirm_leads == 0:
            return
        close = sorted((c for c in children if c.correct and c.score < leader.score * (1 + CLOSE_CALL)), key=lambda c: c.score)
        dueled: dict[str | None, tuple[float | None, str]] = {}  # code hash -> rank score (None: no verdict) and note
        for child in close:
            if child.code_hash == leader.code_hash:
                continue
            if child.code_hash not in dueled and len(dueled) < self.cfg.confirm_leads:
                result = self.store.duel(child.id, leader.id)
                if result is None:
                    result = self.executor.duel(str(child.code), str(leader.code)).result()
                    if result.speedup is None and result.correct:
                        return  # no duel needed: modeled or untimed scores
                    self.store.add_duel(iteration, child.id, leader.id, result)
                dueled[child.code_hash] = self._duel_rank(leader, result)
            if child.code_hash in dueled:
                rank, child.rank_note = dueled[child.code_hash]
                child.rank_score = max(child.score, leader.score) if rank is None else rank
            elif child.score < leader.score:
                child.rank_score, child.rank_note = leader.score, f"unconfirmed: level with #{leader.id}"

    @staticmethod
    def _duel_rank(leader: Candidate, duel: EvalResult) -> tuple[float | None, str]:
        """A challenger's rank score (None: no verdict) and log note from its duel with `leader`."""
        if duel.speedup is None:  # wrong or crashing in the duel: out; our failure (a timeout, say): no verdict
            out = duel.outcome in (Outcome.WRONG_ANSWER, Outcome.CRASH)
            return float("inf") if out else None, f"failed its duel with #{leader.id} ({duel.outcome.value}): {duel.error}"
        rank = leader.score / duel.speedup
        return rank if wins_duel(duel) else max(rank, leader.score), f"{duel.speedup:.2f}x as fast as #{leader.id} in a duel"

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
        self.store.event("iteration", iteration, outcomes=outcomes, beam=[c.id for c in beam], best_score=best.score)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        made = f"{len(children)} candidates ({shown})" if children else "no new candidates (every plan failed or had nothing new)"
        failed = self.store.plan_errors(iteration)
        if not children and failed:  # say why, or the user only sees that nothing happened
            made += f"; {len(failed)} plans failed, first: {failed[0]}"
        ranked = f" (ranked {best.rank_note})" if best.rank_note else ""
        self.log(f"iteration {iteration}: {made}; best #{best.id}: {best.result.summary() if best.result else ''}{ranked}")
