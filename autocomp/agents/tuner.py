"""The offline `tuner` agent: the same search, no language model.

It plans by choosing a menu item that is tied to a knob the code declares (see
autocomp/knobs.py) and a new value for it, and implements a plan by rewriting that
`#define`. When the code declares no knobs but the target ships a template for the
problem's family, its plan is "rewrite as template T". Plans are ordinary text
("menu item: register blocking; knob MB 2 -> 4"), so lineage, reports and schedule
extraction treat them exactly like a model's plans.

Deterministic for a given seed: the candidate moves for a parent are ordered by a
seeded shuffle and plan slot p takes the p-th move, skipping settings already in the
run store, so a resumed run proposes the same plans.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from autocomp.agents.base import AgentContext, Code, CodeJob, Plan, PlanJob
from autocomp.knobs import KnobError, KnobSpec, parse_knobs, set_defines

TEMPLATE = re.compile(r"@template\s+family=([\w.-]+)")
TEMPLATE_PLAN = re.compile(r"rewrite as template (\w+)(?: with knobs ([\w=, -]+))?")
KNOB_MOVE = re.compile(r"knob (\w+) (-?\d+) -> (-?\d+)")


class TunerAgent:
    name = "tuner"

    def __init__(self, model: str, ctx: AgentContext) -> None:
        self.name, self.ctx = model, ctx

    # ---- planning -------------------------------------------------------------------

    def plan(self, job: PlanJob) -> Plan:
        try:
            spec = parse_knobs(job.parent.code)
        except KnobError as exc:
            return Plan(text=None, error=f"tuner: malformed knob declaration: {exc}")
        if not spec.knobs:
            return self._template_plan(job)
        moves = self._moves(job, spec)
        if not moves:
            return Plan(text=None, error="tuner: every knob setting reachable from this parent was already evaluated")
        name, old, new = moves[job.sample_index % len(moves)]
        menu = spec.knobs[name].menu
        return Plan(text=f"menu item: {menu}; knob {name} {old} -> {new}", menu_item=menu)

    def _moves(self, job: PlanJob, spec: KnobSpec) -> list[tuple[str, int, int]]:
        """Single-knob changes that satisfy the constraints and were not evaluated yet.

        Knobs whose menu item survived dropout come first (that is how menu dropout steers
        the tuner); within each group neighbours of the current value precede jumps.
        """
        rng = random.Random(f"{self.ctx.seed}/tuner/{job.parent.id}")
        offered = {item.name for item in job.menu}
        seen = self._evaluated_settings(spec)
        current = spec.setting()
        groups: list[list[tuple[str, int, int]]] = [[], [], [], []]
        for name, knob in spec.knobs.items():
            index = knob.values.index(knob.value)
            for pos, value in enumerate(knob.values):
                if value == knob.value:
                    continue
                setting = {**current, name: value}
                if spec.violated(setting) or tuple(sorted(setting.items())) in seen:
                    continue
                near = abs(pos - index) == 1
                groups[(0 if knob.menu in offered else 2) + (0 if near else 1)].append((name, knob.value, value))
        ordered = []
        for group in groups:
            rng.shuffle(group)
            ordered += group
        return ordered

    def _evaluated_settings(self, spec: KnobSpec) -> set[tuple[tuple[str, int], ...]]:
        """Knob settings of every candidate already in the run (same knob names)."""
        seen = set()
        for row in self.ctx.store.candidates():
            if not row["code"]:
                continue
            try:
                other = parse_knobs(row["code"])
            except KnobError:
                continue
            if other.knobs.keys() == spec.knobs.keys():
                seen.add(tuple(sorted(other.setting().items())))
        return seen

    def _template_plan(self, job: PlanJob) -> Plan:
        templates = self._matching_templates()
        if not templates:
            family = self.ctx.problem.spec.family
            return Plan(text=None, error=f"tuner: the code declares no knobs and {self.ctx.target.name} has no template for family {family!r}")
        name = sorted(templates)[job.sample_index % len(templates)]
        spec = parse_knobs(self._instantiate(templates[name], {}))
        defaults = spec.setting()
        setting, label = self._template_start(spec, job, job.sample_index // len(templates))
        if setting is None:
            return Plan(text=None, error=f"tuner: no knob setting of template {name} satisfies its constraints for this problem")
        text = f"menu item: use a tuned template; rewrite as template {name}"
        if setting != defaults:
            text += " with knobs " + ", ".join(f"{k}={v}" for k, v in setting.items())
        if label:
            text += f" ({label})"
        return Plan(text=text, menu_item="use a tuned template")

    def _template_start(self, spec: KnobSpec, job: PlanJob, slot: int) -> tuple[dict[str, int] | None, str]:
        """The knob setting plan slot `slot` starts a template from, and where it comes from.

        Starting points in order: the template's applicable presets (`@preset`, declaration
        order), then its defaults; starting points some candidate of the run already has are
        skipped, so a parent that keeps losing to its template instances (the initial code)
        moves on to the next one. Slots past the starting points take single-knob neighbours
        of the first starting point (seeded shuffle), then random valid settings.
        """
        seen = self._evaluated_settings(spec)
        key = lambda setting: tuple(sorted(setting.items()))  # noqa: E731
        starts: list[tuple[dict[str, int], str]] = [(s, f"preset {n}") for n, s in spec.preset_settings()]
        if not spec.violated(spec.setting()):
            starts.append((spec.setting(), ""))
        fresh, keys = [], set()
        for setting, label in starts:
            if key(setting) not in seen and key(setting) not in keys:
                fresh.append((setting, label))
                keys.add(key(setting))
        if slot < len(fresh):
            return fresh[slot]
        if starts:
            base, label = starts[0]
            near = []
            for name, knob in spec.knobs.items():
                for value in knob.values:
                    trial = {**base, name: value}
                    if value != base[name] and not spec.violated(trial) and key(trial) not in seen | keys:
                        near.append(trial)
            random.Random(f"{self.ctx.seed}/template-near/{job.parent.id}").shuffle(near)  # one order for all slots
            if slot - len(fresh) < len(near):
                return near[slot - len(fresh)], (f"neighbour of {label}" if label else "neighbour of the defaults")
        rng = random.Random(f"{self.ctx.seed}/template/{job.seed}")
        for _ in range(2000):
            trial = {k: rng.choice(knob.values) for k, knob in spec.knobs.items()}
            if not spec.violated(trial):
                return trial, "random"
        return None, ""

    def _matching_templates(self) -> dict[str, Path]:
        family, params = self.ctx.problem.spec.family, self.ctx.problem.spec.params
        found = {}
        for name, path in self.ctx.target.templates().items():
            text = path.read_text()
            match = TEMPLATE.search(text)
            if match and match.group(1) == family and set(parse_knobs(text).params) <= set(params):
                found[name] = path
        return found

    def _instantiate(self, path: Path, knobs: dict[str, int]) -> str:
        text = path.read_text()
        wanted = parse_knobs(text).params
        return set_defines(text, {**{p: self.ctx.problem.spec.params[p] for p in wanted}, **knobs})

    # ---- implementation -------------------------------------------------------------

    def implement(self, job: CodeJob) -> Code:
        template = TEMPLATE_PLAN.search(job.plan_text)
        try:
            if template:
                path = self._matching_templates().get(template.group(1))
                if path is None:
                    return Code(code=None, error=f"tuner: no template {template.group(1)!r} for this problem")
                knobs = {k.strip(): int(v) for k, v in (kv.split("=") for kv in (template.group(2) or "").split(",") if kv.strip())}
                return Code(code=self._instantiate(path, knobs))
            moves = {name: int(new) for name, _, new in KNOB_MOVE.findall(job.plan_text)}
            if not moves:
                return Code(code=None, error="tuner: the plan names no knob change (`knob NAME OLD -> NEW`) or template")
            return Code(code=set_defines(job.parent.code, moves))
        except (KnobError, ValueError) as exc:
            return Code(code=None, error=f"tuner: cannot apply the plan: {exc}")

    def direct(self, job: PlanJob) -> Code:
        plan = self.plan(job)
        if plan.text is None:
            return Code(code=None, error=plan.error, plan=plan)
        code = self.implement(CodeJob(job.parent, plan.text, 0, job.seq, job.seed))
        return Code(code=code.code, error=code.error, plan=plan)
