"""The offline `tuner` agent: the same search, no language model.

It plans by choosing a menu item that is tied to a knob the code declares (see
autocomp/knobs.py) and a new value for it (or for two knobs at once, once single changes
are spent), and implements a plan by rewriting those `#define`s. When the code declares no knobs but the target ships a template for the
problem's family, its plan is "rewrite as template T". Plans are ordinary text
("menu item: register blocking; knob MB 2 -> 4"), so lineage, reports and schedule
extraction treat them exactly like a model's plans.

Deterministic for a given seed: the candidate moves for a plan slot are ordered by a
seeded shuffle, and the slot takes the first move whose knob setting neither the run
store nor an earlier plan of this iteration already has. Plans are made concurrently, so
each plan re-derives its earlier siblings' choices (`PlanJob.earlier`) instead of asking
them; a resumed run therefore proposes the same plans, and two beam members never spend
their slots on the same setting.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator

from autocomp.agents.base import AgentContext, Code, CodeJob, MenuJob, Plan, PlanJob, RepairJob
from autocomp.errors import UserError
from autocomp.knobs import KnobError, KnobSpec, parse_knobs, set_defines
from autocomp.problem import Problem
from autocomp.targets.base import MenuItem, Target
from autocomp.templates import Template, TemplateFit, for_problem

TEMPLATE_PLAN = re.compile(r"rewrite as template (\w+)(?: with knobs ([\w=, -]+))?")
KNOB_MOVE = re.compile(r"knob (\w+) (-?\d+) -> (-?\d+)")

Move = tuple[tuple[str, int, int], ...]  # (knob, old, new) for each knob a plan changes
Setting = tuple[tuple[str, int], ...]  # a knob setting with its knob names, sorted: comparable across code


def _key(setting: dict[str, int]) -> Setting:
    return tuple(sorted(setting.items()))


def _knob_values(text: str) -> dict[str, int]:
    """`TK=2, TR=7` (a template plan's knob list) -> {"TK": 2, "TR": 7}."""
    return {k.strip(): int(v) for k, v in (kv.split("=") for kv in text.split(",") if kv.strip())}


def _move_plan(spec: KnobSpec, move: Move, label: str = "") -> Plan:
    """`menu item: M; knob A 1 -> 2, knob B 3 -> 4 (label)`: the menu item is the first knob's."""
    menu = spec.knobs[move[0][0]].menu
    changes = ", ".join(f"knob {name} {old} -> {new}" for name, old, new in move)
    return Plan(text=f"menu item: {menu}; {changes}" + (f" ({label})" if label else ""), menu_item=menu)


def _rewrite_plan(name: str, setting: dict[str, int], defaults: dict[str, int], label: str) -> Plan:
    """`menu item: use a tuned template; rewrite as template T [with knobs K=V, ...] [(label)]`;
    the knobs are listed unless they are the template's defaults."""
    text = f"menu item: use a tuned template; rewrite as template {name}"
    if setting != defaults:
        text += " with knobs " + ", ".join(f"{k}={v}" for k, v in setting.items())
    if label:
        text += f" ({label})"
    return Plan(text=text, menu_item="use a tuned template")


def _single_moves(spec: KnobSpec, offered: frozenset[str], rng: random.Random) -> list[Move]:
    """Single-knob changes. Knobs whose menu item survived the slot's dropout come first (that
    is how menu dropout steers the tuner); within each group neighbours of the current value
    precede jumps, in a seeded order."""
    current = spec.setting()
    groups: list[list[Move]] = [[], [], [], []]
    for name, knob in spec.knobs.items():
        index = knob.values.index(knob.value)
        for pos, value in enumerate(knob.values):
            if value != knob.value and not spec.violated({**current, name: value}):
                near = abs(pos - index) == 1
                groups[(0 if knob.menu in offered else 2) + (0 if near else 1)].append(((name, knob.value, value),))
    for group in groups:
        rng.shuffle(group)
    return [move for group in groups for move in group]


def _pair_moves(spec: KnobSpec, offered: frozenset[str], rng: random.Random) -> list[Move]:
    """Pairs of neighbour changes to two knobs: they reach settings a constraint closes to one
    knob at a time (raise TK, lower TR) and keep a parent whose single moves are spent useful.
    Pairs led by an offered knob (which names the menu item) come first, in a seeded order."""
    current = spec.setting()
    steps = [(name, knob.value, value) for name, knob in spec.knobs.items() for pos, value in enumerate(knob.values)
             if abs(pos - knob.values.index(knob.value)) == 1]
    unoffered = lambda step: spec.knobs[step[0]].menu not in offered  # noqa: E731
    groups: list[list[Move]] = [[], []]
    for i, first in enumerate(steps):
        for second in steps[i + 1:]:
            if first[0] != second[0] and not spec.violated({**current, first[0]: first[2], second[0]: second[2]}):
                pair = tuple(sorted((first, second), key=unoffered))
                groups[unoffered(pair[0])].append(pair)
    for group in groups:
        rng.shuffle(group)
    return [move for group in groups for move in group]


def unknown_menu_items(spec: KnobSpec, target: Target, family: str) -> str | None:
    """A knob whose `menu=` is not an item of the target's menu for this family: a plan names its
    menu item, and menu dropout steers by it, so a misspelt one is refused with the closest item."""
    import difflib

    items = [item.name for item in target.knowledge.menu_for(family)]
    for knob in spec.knobs.values():
        if knob.menu not in items:
            close = difflib.get_close_matches(knob.menu, items, n=1, cutoff=0.4)
            return (f"line {knob.line}: knob {knob.name} has menu={knob.menu!r}, which is not an item of the {target.name} "
                    f"menu for family {family!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" (items: {'; '.join(items)})")
    return None


class TunerAgent:
    name = "tuner"
    repairs = False  # its code is the parent's with new knob values: nothing to repair, no menu to extend

    @staticmethod
    def preflight(problem: Problem, target: Target, sole_agent: bool) -> None:
        """Refuse, before a run starts, a problem the tuner cannot move: its initial code declares
        no knobs and no template of the target fits it. With the tuner as the only agent every
        iteration would otherwise end with nothing tried; beside a model it still tunes the knobs
        the model's code declares, so it is only refused when it works alone."""
        try:
            spec = parse_knobs(problem.initial_code)
        except KnobError as exc:
            raise UserError(f"{problem.initial_file}: knobs: {exc}") from None
        unknown = unknown_menu_items(spec, target, problem.spec.family)
        if unknown:
            raise UserError(f"{problem.initial_file}: {unknown}")
        if spec.knobs or not sole_agent:
            return
        fits, refused, inapplicable = for_problem(problem, target.root / "templates")
        if fits:
            return
        why = "; ".join(f"{name}: {reason}" for name, reason in {**refused, **inapplicable}.items())
        raise UserError(
            f"the tuner has nothing to tune in {problem.name}: {problem.initial_file.name} declares no knobs and "
            + (f"no {target.name} template fits it ({why})" if why else
               f"{target.name} has no template for family {problem.spec.family!r}")
            + f". Mark tunable constants in {problem.initial_file.name}, e.g. `#define TILE 64 /* @knob values=16,32,64,128 "
              "menu=\"cache blocking for L1/L2\" */` in C or `TILE = 64  # @knob values=16,32,64,128 menu=\"...\"` in "
              "Python (syntax: autocomp/knobs.py; `autocomp check FOLDER` "
              "lists the menu items), or optimize with a model (--models PROVIDER::MODEL)")

    def __init__(self, model: str, ctx: AgentContext) -> None:
        self.name, self.ctx = model, ctx
        self._settings: dict[str, Setting | None] = {}  # code -> its knob setting (parsing is the cost)
        self._move_lists: dict[tuple[str, int, str, frozenset[str]], list[Move]] = {}  # see _moves

    # ---- planning -------------------------------------------------------------------

    def plan(self, job: PlanJob) -> Plan:
        taken = self._evaluated_settings()
        for sibling in job.earlier:
            taken |= self._choose(sibling, taken)[1]
        return self._choose(job, taken)[0]

    def _choose(self, job: PlanJob, taken: set[Setting]) -> tuple[Plan, set[Setting]]:
        """The plan for `job` given the settings already taken, and the setting it takes."""
        try:
            spec = parse_knobs(job.parent.code)
        except KnobError as exc:
            return Plan(text=None, error=f"tuner: malformed knob declaration: {exc}"), set()
        replayed = self._replay(job, spec, taken) if job.reuse is not None else None
        if replayed is not None:
            return replayed
        if not spec.knobs:
            return self._template_plan(job, taken)
        current = spec.setting()
        for move in self._moves(job, spec):
            setting = _key({**current, **{name: new for name, _, new in move}})
            if setting not in taken:
                return _move_plan(spec, move), {setting}
        return Plan(text=None, error="tuner: every knob setting reachable from this parent was already evaluated "
                                     "or is planned by another slot of this iteration"), set()

    def _replay(self, job: PlanJob, spec: KnobSpec, taken: set[Setting]) -> tuple[Plan, set[Setting]] | None:
        """The reused schedule step applied to this parent: the same template with the same knob
        values, or the same knobs set to the same new values. None when the step does not fit
        (another template, a value this problem's constraints forbid, a setting already taken);
        the slot then plans as usual, steered by the step's menu item."""
        assert job.reuse is not None
        text, source = job.reuse.plan_text, job.reuse.source
        template = TEMPLATE_PLAN.search(text)
        if template and not spec.knobs:
            found = self._matching_templates.get(template.group(1))
            if found is None:
                return None
            fresh = parse_knobs(found.instantiate(self.ctx.problem.spec.params))
            try:
                setting = {**fresh.setting(), **_knob_values(template.group(2) or "")}
            except ValueError:  # not a knob list the tuner wrote
                return None
            if not fresh.allows(setting) or _key(setting) in taken:
                return None
            return _rewrite_plan(template.group(1), setting, fresh.setting(), f"reused from {source}"), {_key(setting)}
        current = spec.setting()
        move = tuple((name, current[name], int(new)) for name, _, new in KNOB_MOVE.findall(text)
                     if name in current and current[name] != int(new))
        setting = {**current, **{name: new for name, _, new in move}}
        if template or not move or not spec.allows(setting) or _key(setting) in taken:
            return None
        return _move_plan(spec, move, f"reused from {source}"), {_key(setting)}

    def _moves(self, job: PlanJob, spec: KnobSpec) -> Iterator[Move]:
        """Knob changes that satisfy the constraints, in the order the slot tries them: single
        changes, then (only when those are all taken) pairs. Each list is built once per parent
        and menu, since every plan of an iteration re-derives its siblings' choices."""
        offered = frozenset(item.name for item in job.menu)
        for kind in (_single_moves, _pair_moves):
            memo = (kind.__name__, job.parent.id, job.parent.code, offered)
            if memo not in self._move_lists:
                suffix = "" if kind is _single_moves else "/pairs"
                self._move_lists[memo] = kind(spec, offered, random.Random(f"{self.ctx.seed}/tuner/{job.parent.id}{suffix}"))
            yield from self._move_lists[memo]

    def _evaluated_settings(self) -> set[Setting]:
        """Knob settings (with their knob names) of every candidate already in the run."""
        seen = set()
        for row in self.ctx.store.candidates():
            if not row["code"]:
                continue
            code = row["code"]
            if code not in self._settings:
                try:
                    other = parse_knobs(code)
                    self._settings[code] = _key(other.setting()) if other.knobs else None
                except KnobError:
                    self._settings[code] = None
            setting = self._settings[code]
            if setting is not None:
                seen.add(setting)
        return seen

    def _template_plan(self, job: PlanJob, taken: set[Setting]) -> tuple[Plan, set[Setting]]:
        templates = self._matching_templates
        if not templates:
            family, refused = self.ctx.problem.spec.family, self._refused_templates
            if refused:
                return Plan(text=None, error="tuner: the code declares no knobs and no template fits: "
                                             + "; ".join(f"{n}: {why}" for n, why in refused.items())), set()
            return Plan(text=None, error=f"tuner: the code declares no knobs and {self.ctx.target.name} has no template for family {family!r}"), set()
        name = sorted(templates)[job.sample_index % len(templates)]
        spec = parse_knobs(templates[name].instantiate(self.ctx.problem.spec.params))
        defaults = spec.setting()
        setting, label = self._template_start(spec, job, taken)
        if setting is None:
            return Plan(text=None, error=f"tuner: no knob setting of template {name} satisfies its constraints for this problem"), set()
        return _rewrite_plan(name, setting, defaults, label), {_key(setting)}

    def _template_start(self, spec: KnobSpec, job: PlanJob, taken: set[Setting]) -> tuple[dict[str, int] | None, str]:
        """The first knob setting not yet taken to start a template from, and where it comes from.

        Starting points in order: the template's applicable presets (`@preset`, declaration
        order), then its defaults, so a parent that keeps losing to its template instances
        (the initial code) moves on to the next one. Then single-knob neighbours of the first
        starting point (seeded order), then random valid settings.
        """
        options: list[tuple[dict[str, int], str]] = [(s, f"preset {n}") for n, s in spec.preset_settings()]
        if not spec.violated(spec.setting()):
            options.append((spec.setting(), ""))
        if options:
            base, label = options[0]
            near = [{**base, name: value} for name, knob in spec.knobs.items() for value in knob.values if value != base[name]]
            near = [setting for setting in near if not spec.violated(setting)]
            random.Random(f"{self.ctx.seed}/template-near/{job.parent.id}").shuffle(near)  # one order for all slots
            where = f"neighbour of {label}" if label else "neighbour of the defaults"
            options += [(setting, where) for setting in near]
        for setting, label in options:
            if _key(setting) not in taken:
                return setting, label
        rng = random.Random(f"{self.ctx.seed}/template/{job.seed}")
        for _ in range(2000):
            trial = {k: rng.choice(knob.values) for k, knob in spec.knobs.items()}
            if not spec.violated(trial) and _key(trial) not in taken:
                return trial, "random"
        return None, ""

    @functools.cached_property
    def _templates(self) -> TemplateFit:
        """The target's templates for this problem's family: those that fit it (signature, params,
        shapes, a valid setting) and why the others do not (read once: every plan of an
        iteration may re-derive template plans for its siblings)."""
        return for_problem(self.ctx.problem, self.ctx.target.root / "templates")

    @property
    def _matching_templates(self) -> dict[str, Template]:
        return self._templates.fits

    @property
    def _refused_templates(self) -> dict[str, str]:
        return {**self._templates.refused, **self._templates.inapplicable}

    # ---- implementation -------------------------------------------------------------

    def implement(self, job: CodeJob) -> Code:
        template = TEMPLATE_PLAN.search(job.plan_text)
        try:
            if template:
                found = self._matching_templates.get(template.group(1))
                if found is None:
                    return Code(code=None, error=f"tuner: no template {template.group(1)!r} for this problem")
                return Code(code=found.instantiate(self.ctx.problem.spec.params, _knob_values(template.group(2) or "")))
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

    def repair(self, job: RepairJob) -> Code:
        return Code(code=None, error="the tuner does not repair candidates")

    def extend_menu(self, job: MenuJob) -> tuple[tuple[MenuItem, ...], str | None]:
        return (), "the tuner does not propose menu items"
