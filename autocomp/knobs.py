"""Knobs: tunable parameters a kernel declares in its own source.

In C, a knob or param is a `#define` with its marker in a `/* */` comment:

    #define M 256 /* @param M */                                  problem fact, set per problem
    #define MB 2  /* @knob values=1,2,4 menu="register blocking" */   tunable, with its menu item
    #define KC 256 /* @knob range=64..1024 step=64 menu="cache blocking" */
    /* @constraint K % KC == 0 && MB * NB <= 4 */                 must hold for every setting
    /* @preset tall if="N <= 64 && M >= 16 * K" MB=1 KC=K */         a starting setting for a shape class

Any code can declare knobs: shipped templates, a user's kernel or an LLM-written
candidate. Constraints are C-like integer expressions over knobs and any
`#define NAME <int>` in the file; they are evaluated by a small whitelist interpreter
(never `eval`). Every malformed declaration is reported with its line number.

In Python (Triton kernels), the same declarations mark a module-level assignment of an integer
literal (at column 0, nothing else on the line but a `#` comment), and markers sit in `#` comments:

    M = 4096  # @param
    BLOCK_M = 128  # @knob values=64,128,256 menu="tile sizes"
    # @constraint M % BLOCK_M == 0
    # @preset skinny if="M <= 64" BLOCK_M=64

Both forms are read by one parser (`_definition` is the one place that knows them); constraint
expressions are the same C-like integer expressions in either language.

A `@preset` names knob values suited to a class of problems: `if="EXPR"` (optional) is a
condition over params and constants, each `KNOB=EXPR` (no spaces inside EXPR) sets a knob,
e.g. `KC=K`; knobs it does not name keep their `#define` value. The tuner starts from the
applicable presets (see `KnobSpec.preset_settings`).
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field

DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)\s+(-?\d+)\b(.*)$")
# Python: `NAME = 64` at module level (column 0), optionally followed by a `#` comment only
ASSIGN = re.compile(r"^([A-Za-z_]\w*)[ \t]*=[ \t]*(-?\d+)(?=[ \t]*(?:#|$))(.*)$")
MARKER = re.compile(r"@(knob|param|constraint|preset)\b")
PRESET_ATTR = re.compile(r'(\w+)\s*=\s*("([^"]*)"|\S+)')
PRESET_NAME = re.compile(r"^\s*([A-Za-z_][\w-]*)(?=\s|$)")
KNOB_ATTR = re.compile(r'(\w+)\s*=\s*("([^"]*)"|[^\s*]+)')
DEFAULT_MENU = "try new parameter values"


class KnobError(ValueError):
    """A malformed knob declaration; the message starts with `line N:`."""


@dataclass(frozen=True)
class Knob:
    name: str
    value: int
    values: tuple[int, ...]
    menu: str
    line: int


@dataclass(frozen=True)
class Preset:
    name: str
    condition: str | None  # `if="..."`, None: always applies
    values: tuple[tuple[str, str], ...]  # (knob, expression)
    line: int


@dataclass
class KnobSpec:
    knobs: dict[str, Knob] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)  # every `#define NAME <int>` / module-level `NAME = <int>`
    constraints: list[tuple[str, int]] = field(default_factory=list)  # (expression, line)
    presets: list[Preset] = field(default_factory=list)

    def setting(self) -> dict[str, int]:
        return {name: knob.value for name, knob in self.knobs.items()}

    def violated(self, values: dict[str, int]) -> str | None:
        """The first constraint `values` break (None if all hold)."""
        env = {**self.constants, **values}
        for expr, line in self.constraints:
            if not _evaluate(expr, env, line):
                return expr
        return None

    def allows(self, values: dict[str, int]) -> bool:
        """Every value is one its knob allows and every constraint holds."""
        return all(name in self.knobs and value in self.knobs[name].values for name, value in values.items()) \
            and self.violated(values) is None

    def preset_settings(self) -> list[tuple[str, dict[str, int]]]:
        """(name, full setting) of every preset whose condition holds, in declaration order.

        A preset's values overlay the current knob values; a preset is left out when one of its
        values is not an allowed value of its knob or the setting breaks a constraint (so a
        preset written for a class of shapes never yields an invalid kernel for another).
        """
        out = []
        env = {**self.constants}
        for preset in self.presets:
            if preset.condition is not None and not _value(preset.condition, env, preset.line, "@preset"):
                continue
            setting = self.setting()
            for name, expr in preset.values:
                setting[name] = _value(expr, env, preset.line, "@preset")
            if self.allows(setting):
                out.append((preset.name, setting))
        return out


def _parse_values(attr: str, raw: str, line: int) -> tuple[int, ...]:
    try:
        if attr == "values":
            values = tuple(int(v) for v in raw.split(",") if v.strip())
        else:  # range=LO..HI, with an optional step=S handled by the caller
            lo, hi = (int(v) for v in raw.split(".."))
            values = (lo, hi)
    except ValueError:
        raise KnobError(f"line {line}: {attr}={raw!r} must be integers (values=1,2,4 or range=64..1024)") from None
    if not values:
        raise KnobError(f"line {line}: {attr}= lists no values")
    return values


def _parse_knob(name: str, value: int, text: str, line: int) -> Knob:
    attrs = {m.group(1): (m.group(3) if m.group(3) is not None else m.group(2)) for m in KNOB_ATTR.finditer(text)}
    unknown = set(attrs) - {"values", "range", "step", "menu"}
    if unknown:
        raise KnobError(f"line {line}: unknown knob attribute(s) {sorted(unknown)}; use values=, range=, step=, menu=")
    if ("values" in attrs) == ("range" in attrs):
        raise KnobError(f"line {line}: knob {name} needs exactly one of values=a,b,c or range=LO..HI")
    if "values" in attrs:
        values = _parse_values("values", attrs["values"], line)
    else:
        lo, hi = _parse_values("range", attrs["range"], line)
        step = int(attrs.get("step", "1")) if attrs.get("step", "1").lstrip("-").isdigit() else 0
        if step <= 0 or hi < lo:
            raise KnobError(f"line {line}: knob {name} range={lo}..{hi} step={attrs.get('step')} is empty or invalid")
        values = tuple(range(lo, hi + 1, step))
    if value not in values:
        raise KnobError(f"line {line}: knob {name} = {value} is not one of its allowed values {list(values)}")
    return Knob(name, value, tuple(sorted(set(values))), attrs.get("menu") or DEFAULT_MENU, line)


def _definition(line: str) -> re.Match[str] | None:
    """The line's integer definition, C `#define NAME <int>` or Python `NAME = <int>`: group 1 is
    the name, group 2 the integer (the only part `set_defines` rewrites)."""
    return DEFINE.match(line) or ASSIGN.match(line)


def _marker_text(text: str, marker: re.Match[str]) -> str:
    """What follows a marker up to the end of its comment (`*/` in C, the line's end in Python)."""
    return text[marker.end():].split("*/")[0]


def parse_knobs(code: str) -> KnobSpec:
    spec = KnobSpec()
    for number, text in enumerate(code.splitlines(), start=1):
        marker = MARKER.search(text)
        define = _definition(text)
        if define:
            spec.constants[define.group(1)] = int(define.group(2))
        if not marker:
            continue
        kind = marker.group(1)
        if kind == "preset":
            spec.presets.append(_parse_preset(_marker_text(text, marker), number))
            continue
        if kind == "constraint":
            expr = _marker_text(text, marker).strip()
            if not expr:
                raise KnobError(f"line {number}: empty @constraint")
            spec.constraints.append((expr, number))
            continue
        if not define:
            raise KnobError(f"line {number}: @{kind} must mark a line of the form `#define NAME <integer>` (C) "
                            f"or `NAME = <integer>` at column 0 (Python)")
        name, value = define.group(1), int(define.group(2))
        if kind == "param":
            spec.params[name] = value
        else:
            if name in spec.knobs:
                raise KnobError(f"line {number}: knob {name} is declared twice (first on line {spec.knobs[name].line})")
            spec.knobs[name] = _parse_knob(name, value, _marker_text(text, marker), number)
    for expr, line in spec.constraints:  # names and syntax are checked up front, not at tuning time
        _evaluate(expr, {**spec.constants}, line)
    names = set()
    for preset in spec.presets:
        if preset.name in names:
            raise KnobError(f"line {preset.line}: preset {preset.name} is declared twice")
        names.add(preset.name)
        if preset.condition is not None:
            _value(preset.condition, {**spec.constants}, preset.line, "@preset")
        for name, expr in preset.values:
            if name not in spec.knobs:
                raise KnobError(f"line {preset.line}: preset {preset.name} sets {name}, which is not a knob")
            _value(expr, {**spec.constants}, preset.line, "@preset")
    return spec


def _parse_preset(text: str, line: int) -> Preset:
    name = PRESET_NAME.match(text)
    if not name:
        raise KnobError(f"line {line}: @preset needs a name first: `@preset NAME if=\"EXPR\" KNOB=EXPR ...`")
    rest, condition, values, seen = text[name.end():], None, [], set()
    for m in PRESET_ATTR.finditer(rest):
        key, raw = m.group(1), (m.group(3) if m.group(3) is not None else m.group(2))
        if key == "if":
            condition = raw
        elif key in seen:
            raise KnobError(f"line {line}: preset {name.group(1)} sets {key} twice")
        else:
            seen.add(key)
            values.append((key, raw))
    leftover = PRESET_ATTR.sub("", rest).strip()
    if leftover:
        raise KnobError(f"line {line}: cannot parse {leftover!r} in @preset (use KNOB=EXPR without spaces)")
    return Preset(name.group(1), condition, tuple(values), line)


def set_defines(code: str, values: dict[str, int]) -> str:
    """Rewrite the integer of `#define NAME <int>` (C) or `NAME = <int>` (Python) for each given
    name (knobs or params); the rest of the line, its marker included, is kept."""
    remaining = dict(values)

    def rewrite(line: str) -> str:
        m = _definition(line)
        if not m or m.group(1) not in remaining:
            return line
        return line[: m.start(2)] + str(remaining.pop(m.group(1))) + line[m.end(2):]

    out = "\n".join(rewrite(line) for line in code.split("\n"))
    if remaining:
        raise KnobError(f"no `#define NAME <int>` or `NAME = <int>` line found for {sorted(remaining)}")
    return out


# ---- constraint expressions: a tiny, safe integer interpreter ---------------------------------

_C_TO_PY = [(r"&&", " and "), (r"\|\|", " or "), (r"!(?!=)", " not "), (r"/", "//")]


def int_expression(expr: str, env: dict[str, int], what: str) -> int:
    """An integer expression such as `2*M*N*K` over `env`, by the same safe interpreter (never
    eval); a KnobError names `what` and the unknown name or bad syntax."""
    try:
        return _value(expr, env, 0, what)
    except KnobError as exc:
        raise KnobError(str(exc).removeprefix("line 0: ")) from None


def _evaluate(expr: str, env: dict[str, int], line: int) -> bool:
    return bool(_value(expr, env, line))


@functools.lru_cache(maxsize=4096)
def _parse(expr: str) -> ast.Expression | None:
    """The Python syntax tree of a C-like expression (None if it does not parse). Cached: the
    tuner checks the same few constraints against hundreds of settings per plan."""
    text = expr
    for pattern, repl in _C_TO_PY:
        text = re.sub(pattern, repl, text)
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None


def _value(expr: str, env: dict[str, int], line: int, what: str = "@constraint") -> int:
    tree = _parse(expr)
    if tree is None:
        raise KnobError(f"line {line}: cannot parse {what} {expr!r}")
    try:
        return int(_eval_node(tree.body, env))
    except KeyError as exc:
        raise KnobError(f"line {line}: {what} {expr!r} uses {exc.args[0]!r}, which is not a knob or an integer constant (#define / NAME = <int>)") from None
    except ZeroDivisionError:
        return 0
    except KnobError as exc:
        raise KnobError(f"line {line}: {exc}") from None


_BIN = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: int(a / b), ast.Mod: lambda a, b: a - b * int(a / b)}
_CMP = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
        ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


def _eval_node(node: ast.AST, env: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_eval_node(node.left, env), _eval_node(node.right, env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        value = _eval_node(node.operand, env)
        return int(not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BoolOp):
        values = [_eval_node(v, env) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare):
        left = _eval_node(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval_node(comparator, env)
            if type(op) not in _CMP or not _CMP[type(op)](left, right):
                return 0
            left = right
        return 1
    raise KnobError(f"unsupported syntax in @constraint: {ast.dump(node)[:60]}")
