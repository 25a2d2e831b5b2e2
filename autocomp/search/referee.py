"""The measurement referee: the judgements a search makes beyond each candidate's own evaluation.

A score compares a kernel with the initial code at its own moment, so on a busy machine a lucky
moment can look like a win. The referee settles what scores alone cannot: which child may take
the lead (a duel with the leader, timed call by call on one core in one run), which finalist is the
run's answer (re-checks on fresh inputs, then duels), and how the winner fares with cold caches.
Duels only rank (`Candidate.rank`); measured scores are never rewritten.
"""

from __future__ import annotations

from typing import Callable

from autocomp.config import RunConfig
from autocomp.evaluation.executor import Executor
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.search.candidate import Candidate
from autocomp.store.runstore import RunStore

DUEL_MARGIN = 0.02  # a challenger must run this much faster than the leader, timed head to head, to take the lead
CLOSE_CALL = 0.10  # children scored within this much of the leader may duel it (a lucky leader score must not stick)


def wins_duel(duel: EvalResult) -> bool:
    """Whether a challenger's duel with the leader hands it the lead: at least DUEL_MARGIN
    faster (less is a tie, which the incumbent wins; a failed duel wins nothing)."""
    return duel.speedup is not None and duel.speedup >= 1 + DUEL_MARGIN


def duel_rank(leader: Candidate, duel: EvalResult) -> tuple[float | None, str]:
    """A challenger's rank (None: no verdict) and log note from its duel with `leader`."""
    if duel.speedup is None:  # wrong or crashing in the duel: out; our failure (a timeout, say): no verdict
        out = duel.outcome in (Outcome.WRONG_ANSWER, Outcome.CRASH)
        return float("inf") if out else None, f"failed its duel with #{leader.id} ({duel.outcome.value}): {duel.error}"
    rank = leader.rank / duel.speedup
    note = f"{duel.speedup:.2f}x as fast as #{leader.id} in a duel" + (" (unreliable timing)" if duel.unreliable else "")
    # an unreliable duel can rank a challenger down (it lost even so), never hand it the lead
    return rank if wins_duel(duel) and not duel.unreliable else max(rank, leader.rank), note


class Referee:
    """Duels for the lead, the final pick and the cold check of one search, on its executor."""

    def __init__(self, config: RunConfig, store: RunStore, executor: Executor, log: Callable[[str], None]) -> None:
        self.config, self.store, self.log = config, store, log
        self.executor = executor

    def confirm_leads(self, leader: Candidate, children: list[Candidate], iteration: int) -> None:
        """Only a child that beats the leader head to head takes the lead.

        A score compares a kernel with the initial code at its own moment; on a busy machine a
        lucky moment makes a noise "win" (the method's original implementation let a 0.1%
        win into the beam), and a lucky leader score holds off truly faster children. So the
        `confirm_leads` best children scored within CLOSE_CALL of the leader (or better) duel
        it, timed call by call on one core, and are ranked at the leader's rank divided by
        how many times faster they ran (less than DUEL_MARGIN faster is a tie, which the
        incumbent wins). Other children that beat the leader's rank rank level with it.
        Against the initial code the score already is such a comparison, and modeled targets
        need none (their duels return no speedup). Duels are stored, so a resumed run ranks as
        before without measuring again. A child whose timing is unreliable (too few unpreempted
        calls) ranks no better than the leader, whoever leads.
        """
        for child in children:
            if child.correct and child.result is not None and child.result.unreliable and child.rank < leader.rank:
                child.duel_rank, child.rank_note = leader.rank, f"unreliable timing: level with #{leader.id}"
        if leader.key == "root" or self.config.search.confirm_leads == 0:
            return
        close = sorted((c for c in children if c.correct and c.rank < leader.rank * (1 + CLOSE_CALL)
                        and not (c.result is not None and c.result.unreliable)), key=lambda c: c.rank)
        dueled: dict[str | None, tuple[float | None, str]] = {}  # code hash -> rank (None: no verdict) and note
        for child in close:
            if child.code_hash == leader.code_hash:
                continue
            if child.code_hash not in dueled and len(dueled) < self.config.search.confirm_leads:
                result = self.store.duel(child.id, leader.id)
                if result is None:
                    result = self.executor.duel(str(child.code), str(leader.code)).result()
                    if result.speedup is None and result.correct:
                        return  # no duel needed: modeled or untimed scores
                    if result.outcome is not Outcome.INFRA_FAILURE:  # lost to the cluster: a resume duels again
                        self.store.add_duel(iteration, child.id, leader.id, result)
                dueled[child.code_hash] = duel_rank(leader, result)
            if child.code_hash in dueled:
                rank, child.rank_note = dueled[child.code_hash]
                child.duel_rank = max(child.rank, leader.rank) if rank is None else rank
            elif child.rank < leader.rank:
                child.duel_rank, child.rank_note = leader.rank, f"unconfirmed: level with #{leader.id}"

    def final_pick(self, beam: list[Candidate]) -> tuple[Candidate, EvalResult | None]:
        """Re-check the best `final_recheck` beam members on fresh inputs in new processes
        (docs/evaluation-hygiene.md R7), then let the survivors duel; return the winner with its
        re-check.

        Each measurement compares a kernel with the initial code at its own moment, and on a
        busy machine that ratio drifts (a compute-bound kernel and a memory-bound initial code
        slow down differently), so scores alone can mis-order close finalists. The survivors
        are ranked by the mean of their search rank and re-check score; then the leader meets
        each other survivor in a duel, both timed call by call on one core in one run, and a challenger
        at least DUEL_MARGIN faster takes the lead. A contender that fails its re-check is out.
        These are measurements, not model calls: a resumed run makes them again.
        """
        contenders = [c for c in beam if c.code is not None and c.correct][: self.config.search.final_recheck]
        if not contenders or (len(contenders) == 1 and contenders[0].key == "root"):
            return beam[0], beam[0].result
        futures = [(c, self.executor.submit(c.code)) for c in contenders]
        rechecked = [(c, f.result()) for c, f in futures]
        for c, result in rechecked:
            self.store.event("final_validation", candidate_id=c.id, result=result.model_dump(mode="json"))
            self.log(f"final re-check of #{c.id} on fresh inputs: {result.summary()}")
        lost = {c.id for c, r in rechecked if r.outcome is Outcome.INFRA_FAILURE}  # no verdict: never dropped as failed
        for cid in sorted(lost):
            self.log(f"the re-check of #{cid} was lost to the infrastructure; it is ranked by its search rank alone")
        valid = sorted(((c, r) for c, r in rechecked if r.correct or c.id in lost),
                       key=lambda cr: (cr[0].rank + (cr[1].score if cr[1].correct else cr[0].rank)) / 2)
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
            self.log(f"duel: #{challenger.id} runs {duel.speedup:.2f}x as fast as #{best.id} (timed call by call on one core in one run)")
            if wins_duel(duel):
                best, result = challenger, challenger_result
        if best is not beam[0]:
            self.log(f"#{best.id} is the final pick (the search ranked #{beam[0].id} first)")
        return best, result

    def cold_check(self, best: Candidate) -> EvalResult | None:
        """The winner timed against the initial code once more, both flushed from every cache
        level before each call (docs/evaluation-hygiene.md R5.4, R7.1). The search times warm
        data, as a kernel called in a loop sees it; a layer whose operands come from DRAM may
        gain less. Reported next to the warm numbers; it does not change the pick. A search that
        already ran cold, an untimed one and modeled cycles (no caches to be cold) need no second
        look."""
        settings = self.config.eval
        if best.key == "root" or best.code is None or settings.cold_cache or not settings.time \
                or not self.executor.exclusive_timing:
            return None
        executor = self.executor.variant({"cold_cache": True})
        try:
            result = executor.submit(best.code).result()
        finally:
            executor.shutdown()
        self.store.event("cold_validation", candidate_id=best.id, result=result.model_dump(mode="json"))
        self.log(f"#{best.id} with cold caches (its buffers and the initial code's flushed before every call): {result.summary()}")
        return result
