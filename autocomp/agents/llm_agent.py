"""An agent backed by a language model (or a scripted stand-in for one).

Prompts are jinja2 templates (StrictUndefined, so a missing variable is an error, not
an empty string) filled from the target's knowledge pack and the problem. Every failure
(a call that failed for good, a truncated, empty or unusable reply, edits that do not
apply) comes back as a Plan/Code with `error` set, never as text posing as output.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from autocomp.agents.base import CALL_FAILED, AgentContext, Code, CodeJob, MenuJob, Plan, PlanJob, RepairJob
from autocomp.agents.parsing import (EditError, apply_edits, extract_code, extract_edits, extract_menu_items, extract_plan,
                                     strip_reasoning)
from autocomp.config import LLMConfig
from autocomp.llm.base import Message, Phase, ProviderError, Request
from autocomp.llm.client import LLMClient
from autocomp.llm.pricing import PriceTable
from autocomp.llm.registry import make_provider
from autocomp.targets.base import MenuItem

PROMPTS = Path(__file__).parent / "prompts"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PROMPTS), undefined=jinja2.StrictUndefined,
    autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
)


def render(template: str, **values: object) -> str:
    return _env.get_template(template).render(**values)


class LLMAgent:
    repairs = True

    def __init__(self, model: str, ctx: AgentContext, llm: LLMConfig | None = None) -> None:
        self.name, self.ctx, self.llm = model, ctx, llm or LLMConfig()
        provider = make_provider(model, self.llm)
        self.client = LLMClient(ctx.store, provider, PriceTable(self.llm.prices), cache=self.llm.cache)

    def _context(self) -> dict[str, object]:
        ctx = self.ctx
        return dict(
            target=ctx.target.name, architecture=ctx.knowledge.architecture,
            description=ctx.problem.spec.description, signature=ctx.problem.signature(),
            language=ctx.problem.language.name, fence=ctx.problem.language.fence,
            hardware=ctx.target.hardware().description, rules=list(ctx.knowledge.rules),
        )

    def _ask(self, phase: Phase, prompt: str, sample_index: int, seq: int) -> tuple[str | None, str | None, int | None]:
        """(reply text, error, llm_call_id). A failed or truncated call is an error, never a reply."""
        request = Request(
            model=self.name, messages=[Message(role="user", content=prompt)], phase=phase,
            temperature=self.ctx.temperature, max_tokens=self.ctx.max_tokens, sample_index=sample_index, seq=seq,
        )
        try:
            response, call_id = self.client.complete(request)
        except ProviderError as exc:
            return None, f"{CALL_FAILED}: {exc}", None
        if response.finish_reason == "length":
            return None, "the reply was truncated (max tokens reached)", call_id
        if not response.text.strip():
            return None, "the model returned an empty reply", call_id
        if not strip_reasoning(response.text):
            return None, "the reply held only reasoning (<think>), no answer", call_id
        return response.text, None, call_id

    def plan(self, job: PlanJob) -> Plan:
        prompt = render("plan.j2", **self._context(), parent_code=job.parent.code, feedback=job.parent.feedback, menu=job.menu,
                        reuse=job.reuse, history=job.history)
        reply, error, call_id = self._ask("plan", prompt, job.sample_index, job.seq)
        if reply is None:
            return Plan(text=None, error=error, llm_call_id=call_id)
        text, item, own = extract_plan(reply, job.menu)
        if not text:
            return Plan(text=None, error="the reply contained no plan", llm_call_id=call_id)
        return Plan(text=text, menu_item=item, llm_call_id=call_id, own_strategy=own)

    def implement(self, job: CodeJob) -> Code:
        template = "implement_edits.j2" if self.llm.edits else "implement.j2"
        prompt = render(template, **self._context(), parent_code=job.parent.code, feedback=job.parent.feedback, plan=job.plan_text)
        reply, error, call_id = self._ask("code", prompt, job.sample_index, job.seq)
        if reply is None or not self.llm.edits:
            return self._parse_code(reply, error, call_id)
        return self._apply_edits(job.parent.code, reply, call_id)

    def _apply_edits(self, parent_code: str, reply: str, call_id: int | None) -> Code:
        """Edits applied to the parent; failing that, a full code block in the reply; else a failure."""
        try:
            return Code(code=apply_edits(parent_code, extract_edits(reply)), llm_call_id=call_id)
        except EditError as exc:
            whole = extract_code(reply, self.ctx.problem.spec.kernel.entry, self.ctx.problem.language)
            if whole is not None:
                return Code(code=whole, llm_call_id=call_id)
            return Code(code=None, error=f"the edits could not be applied: {exc}", llm_call_id=call_id)

    def direct(self, job: PlanJob) -> Code:
        prompt = render("direct.j2", **self._context(), parent_code=job.parent.code, feedback=job.parent.feedback, menu=job.menu,
                        reuse=job.reuse, history=job.history)
        reply, error, call_id = self._ask("direct", prompt, job.sample_index, job.seq)
        code = self._parse_code(reply, error, call_id)
        if code.code is None:
            return code
        prose = strip_reasoning(reply or "").split("```", 1)[0].strip()
        text, item, own = extract_plan(prose or "(the reply had no plan text)", job.menu)
        return Code(code=code.code, llm_call_id=call_id,
                    plan=Plan(text=text, menu_item=item, llm_call_id=call_id, own_strategy=own))

    def repair(self, job: RepairJob) -> Code:
        """A whole corrected file (never edits: the failed code may be far from its parent)."""
        prompt = render("repair.j2", **self._context(), plan=job.plan_text, code=job.code, failure=job.failure,
                        attempt=job.attempt)
        reply, error, call_id = self._ask("repair", prompt, 0, job.seq)
        return self._parse_code(reply, error, call_id)

    def extend_menu(self, job: MenuJob) -> tuple[tuple[MenuItem, ...], str | None]:
        prompt = render("extend_menu.j2", **self._context(), initial_code=job.initial_code, feedback=job.feedback,
                        menu=job.menu, count=job.count)
        reply, error, _ = self._ask("menu", prompt, 0, 0)
        if reply is None:
            return (), error
        items = extract_menu_items(reply, job.count, job.menu)
        return items, None if items else "the reply held no `- NAME: description` lines"

    def _parse_code(self, reply: str | None, error: str | None, call_id: int | None) -> Code:
        if reply is None:
            return Code(code=None, error=error, llm_call_id=call_id)
        language = self.ctx.problem.language
        code = extract_code(reply, self.ctx.problem.spec.kernel.entry, language)
        if code is None:
            return Code(code=None, error=f"no {language.name} code block found in the reply", llm_call_id=call_id)
        return Code(code=code, llm_call_id=call_id)
