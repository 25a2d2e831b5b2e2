"""Read a C function's parameter list from source text, to compare it with problem.toml.

A kernel whose parameters disagree with the declared arguments (another order, a missing
output, `double` for `f32`) does not fail to compile: the harness calls it through the
derived prototype and it reads the wrong buffers, usually a SIGSEGV. Comparing the
definition's parameters with `kernel.args` turns that into an error naming both sides.

This is a small parser for ordinary declarations (`const float *restrict x`, `int n`), run
on comments-stripped source (or on `gcc -E` output, which resolves macros and typedefs of
standard types); it never guesses: a definition it cannot read gives no parameters (None).
"""

from __future__ import annotations

import re
from typing import NamedTuple

QUALIFIERS = {"restrict", "__restrict", "__restrict__", "register", "volatile"}
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"' + r"|'(?:\\.|[^'\\\n])*'")


# types this parser can compare; another name (a typedef such as a template's `T`) is compared by
# pointer depth only, since what it stands for is C, not text
KNOWN_TYPES = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "size_t",
               *(f"{s}int{n}_t" for s in ("", "u") for n in (8, 16, 32, 64))}


class CParam(NamedTuple):
    """One parameter: its name and its type reduced to `[const ]BASE[ *...]`."""

    name: str
    ctype: str

    def __str__(self) -> str:
        return f"{self.ctype}{'' if self.ctype.endswith('*') else ' '}{self.name}"


def strip_comments(code: str) -> str:
    """The source with comments and string/char literals blanked (their text cannot confuse the parse)."""
    code = _STRING.sub('""', code)
    return _COMMENT.sub(lambda m: " " if m.group(0).startswith("/*") else "", code)


def parse_type(text: str) -> CParam | None:
    """`const float *restrict A` -> CParam('A', 'const float *'); None if it is not a plain declaration."""
    text = text.replace("*", " * ").replace("[", " [ ").replace("]", " ] ")
    tokens = [t for t in text.split() if t not in QUALIFIERS]
    if not tokens:
        return None
    array = "[" in tokens  # `float A[]` or `float A[256]` is a pointer parameter
    if array:
        tokens = tokens[: tokens.index("[")]
    if len(tokens) < 2 or not re.fullmatch(r"[A-Za-z_]\w*", tokens[-1]):
        return None
    name, type_tokens = tokens[-1], tokens[:-1]
    pointers = type_tokens.count("*") + (1 if array else 0)
    words = [t for t in type_tokens if t != "*"]
    first_star = type_tokens.index("*") if "*" in type_tokens else len(type_tokens)
    const = "const" in type_tokens[:first_star]  # `const float *` (read-only data); `float *const` is not
    base = " ".join(w for w in words if w != "const")
    if not base or not all(re.fullmatch(r"[A-Za-z_]\w*", w) for w in base.split()):
        return None
    return CParam(name, ("const " if const else "") + base + (" " + "*" * pointers if pointers else ""))


def find_definition(code: str, entry: str) -> list[CParam] | None:
    """The parameters of the function `entry` as defined (with a body) in `code`, or None when no
    readable definition is there (a macro-built one, a K&R one)."""
    text = strip_comments(code)
    for match in re.finditer(rf"\b{re.escape(entry)}\s*\(", text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        if depth:
            return None
        after = text[i:].lstrip()
        before = text[: match.start()].rstrip()
        if not after.startswith("{") or not re.search(r"\b(void|int|float|double|[A-Za-z_]\w*)\s*\**$", before):
            continue  # a call or a prototype, not the definition
        inside = text[match.end(): i - 1].strip()
        if inside in ("", "void"):
            return []
        params = [parse_type(part) for part in inside.split(",")]
        return None if any(p is None for p in params) else [p for p in params if p is not None]
    return None


def mismatch(expected: list[CParam], found: list[CParam]) -> str | None:
    """Why `found` (the code's parameters) is not `expected` (problem.toml's), or None.

    `const` is not compared: it does not change how the kernel is called, and the harness
    checks that inputs come back unchanged whatever the code declares."""
    if len(found) != len(expected):
        return (f"it takes {len(found)} parameter(s) ({', '.join(map(str, found)) or 'none'}) but kernel.args declares "
                f"{len(expected)} ({', '.join(map(str, expected))})")
    for position, (want, got) in enumerate(zip(expected, found), start=1):
        base = got.ctype.removeprefix("const ").rstrip(" *")
        comparable = all(word in KNOWN_TYPES for word in base.split())
        if comparable and got.ctype.removeprefix("const ") != want.ctype.removeprefix("const ") or \
                got.ctype.count("*") != want.ctype.count("*"):  # const does not change the call
            return f"parameter {position} is `{got}` but problem.toml declares `{want}`"
        if got.name != want.name:
            return (f"parameter {position} is named `{got.name}` but kernel.args[{position - 1}] is {want.name!r} "
                    f"(same type; if the order differs the kernel would read the wrong buffers)")
    return None
