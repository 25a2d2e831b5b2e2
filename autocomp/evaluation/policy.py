"""Static policy checked before compiling a candidate (docs/evaluation-hygiene.md R4).

The sandbox contains what a kernel can do to the machine; this catches what it could
do to the *score*: calling libraries, spawning threads, touching timers or I/O, code
that runs at load time, fishing for the harness. Comments and string literals are
stripped first so prose cannot trigger a rule; each violation names the line and why,
which is useful feedback for the model that wrote it.

Every check runs in time linear in the code's length (a single scan, or regexes that cannot
backtrack far), so no crafted source can stall an evaluation; code over `MAX_CODE_BYTES` is
rejected before any check.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

MAX_CODE_BYTES = 256 << 10  # the largest kernel template is 38 KB

# identifier -> reason. Matched as a call or a reference (`name(` or `&name`).
BANNED_CALLS: dict[str, str] = {
    **{n: "processes and threads are not allowed" for n in (
        "fork", "vfork", "clone", "execl", "execlp", "execle", "execv", "execvp", "execve",
        "system", "popen", "posix_spawn", "pthread_create", "thrd_create", "kill", "raise")},
    **{n: "file, network and terminal I/O is not allowed" for n in (
        "fopen", "freopen", "fdopen", "open", "openat", "creat", "read", "write", "pread", "pwrite",
        "printf", "fprintf", "dprintf", "puts", "fputs", "putchar", "fwrite", "perror",
        "socket", "connect", "unlink", "remove", "rename")},
    **{n: "timers and clocks are off limits to kernels" for n in (
        "clock_gettime", "gettimeofday", "time", "clock", "__rdtsc", "__rdtscp", "_rdtsc", "rdtsc",
        "nanosleep", "usleep", "sleep")},
    **{n: "loading code, signals, memory mapping and raw system calls are not allowed" for n in (
        "dlopen", "dlsym", "dl_iterate_phdr", "syscall", "mprotect", "mmap", "mremap", "munmap",
        "signal", "sigaction", "setjmp", "longjmp", "sigsetjmp", "siglongjmp", "sched_setaffinity",
        "atexit", "at_quick_exit", "exit", "_exit", "_Exit", "quick_exit", "abort")},
}

# Code run when the object is loaded or unloaded, in any of GCC's spellings (`constructor`,
# `__constructor__`), inside an `__attribute__((...))` that reaches it before the next `;` or `{`.
LOAD_TIME_WORDS = re.compile(r"\b(?:__)?(?:constructor|destructor|section|ifunc|alias)(?:__)?\b")
LOAD_TIME_REASON = "load-time code (constructors, destructors, custom sections, ifunc/alias) is not allowed"

BANNED_PATTERNS: list[tuple[str, str]] = [  # each must match in linear time: no unbounded run before a literal
    (r"\b_Pragma\s*\(", "_Pragma is not allowed; write plain C"),
    (r"#\s*include\s*\"", "local #include files are not allowed; include system headers with <...>"),
    (r"#\s*pragma\s+omp", "OpenMP is not allowed unless the problem declares threads"),
    (r"\b(cblas_\w+|mkl_\w+|dnnl_\w+|openblas_\w+)", "vendor library calls are not allowed"),
    (r"#\s*include\s*<\s*(pthread|omp|threads|unistd|sys/\w+|dlfcn|signal|setjmp)\.h\s*>",
     "this header is not allowed in kernels"),
    (r"#\s*include\s*<\s*link\.h\s*>", "this header is not allowed in kernels"),
]

# Checked on code with comments removed but string literals kept, i.e. inside inline asm.
BANNED_ASM = (r"\b(syscall|sysenter|int\s*\$?0x80|rdtsc|rdtscp|rdpmc)\b", "system calls and time-stamp reads in inline asm are not allowed")


@dataclass(frozen=True)
class Policy:
    """Per-target policy. `required` lists regexes at least one of which must appear."""

    extra_banned: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()
    required_reason: str = ""
    allowed_calls: frozenset[str] = field(default_factory=frozenset)


# Comments and string/char literals, one match each, left to right. Each alternative always
# matches once started (an unterminated comment runs to the end, an unterminated literal to the end
# of its line, as far as the compiler reads it before its error), so the scan never backtracks.
_LITERALS = re.compile(r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?', re.S)
_INCLUDE_QUOTE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*(?=")', re.M)


def _spaces(text: str) -> str:
    """`text` blanked: spaces, newlines kept."""
    return " " * len(text) if "\n" not in text else re.sub(r"[^\n]", " ", text)


def strip_comments_and_strings(code: str) -> str:
    """Blank out comments and string/char literals, keeping line structure for line numbers.
    The file name of `#include "x.h"` stays visible, so its rule can fire."""
    include_paths = {m.end() for m in _INCLUDE_QUOTE.finditer(code)}

    def blank(m: re.Match[str]) -> str:
        return m.group() if m.start() in include_paths else _spaces(m.group())

    return _LITERALS.sub(blank, code)


def strip_comments(code: str) -> str:
    """Blank out comments only (inline asm lives in string literals)."""
    return _LITERALS.sub(lambda m: _spaces(m.group()) if m.group()[0] == "/" else m.group(), code)


def _banned_calls(clean: str, policy: Policy) -> list[tuple[str, str, int]]:
    """(name, reason, position) of the first use of each banned function in `clean` code: a call,
    an address-of, a cast (any use after `)`) or an assignment (`= name;`); also __builtin_NAME.
    Member names (`s.read(`, `p->write(`) are not uses. One scan over the identifiers."""
    first: dict[str, int] = {}
    n = len(clean)
    for m in re.finditer(r"\w+", clean):
        word = m.group()
        name = word[len("__builtin_"):] if word.startswith("__builtin_") else word
        if name in first or name not in BANNED_CALLS or name in policy.allowed_calls:
            continue
        before = m.start() - 1
        while before >= 0 and clean[before] in " \t\r\n\f\v":
            before -= 1
        after = m.end()
        while after < n and clean[after] in " \t\r\n\f\v":
            after += 1
        prev = clean[before] if before >= 0 else ""
        nxt = clean[after] if after < n else ""
        if prev == "." or (prev == ">" and before > 0 and clean[before - 1] == "-"):
            continue
        if nxt == "(" or prev in ("&", ")") or (prev == "=" and nxt == ";"):
            first[name] = m.start()
    return [(name, reason, first[name]) for name, reason in BANNED_CALLS.items() if name in first]


def _load_time_code(clean: str) -> tuple[int, int] | None:
    """Span from the first `__attribute__((` whose attributes name load-time code before the next
    `;` or `{` to that name (linear: each attribute finds the next delimiter and name by bisection)."""
    delimiters = [m.start() for m in re.finditer(r"[;{]", clean)]
    words = [(m.start(), m.end()) for m in LOAD_TIME_WORDS.finditer(clean)]
    for m in re.finditer(r"\b__attribute__\s*\(\s*\(", clean):
        d = bisect.bisect_left(delimiters, m.end())
        w = bisect.bisect_left(words, (m.end(), 0))
        if w < len(words) and (d == len(delimiters) or words[w][0] < delimiters[d]):
            return m.start(), words[w][1]
    return None


def _defines_entry(clean: str, entry: str) -> bool:
    """Whether `entry(...) {` appears: after `entry (`, the next `;` or `{` is a `{` right after
    a `)` (linear: the next delimiter and the character before it are found once per delimiter)."""
    delimiter = re.compile(r"[;{]")
    d_pos, closes = -1, False
    for m in re.finditer(rf"\b{re.escape(entry)}\s*\(", clean):
        if d_pos < m.end():
            d = delimiter.search(clean, m.end())
            if d is None:
                return False
            d_pos, before = d.start(), d.start() - 1
            while before >= m.end() and clean[before].isspace():
                before -= 1
            closes = clean[d_pos] == "{" and clean[before] == ")"
            last_paren = before
        if closes and last_paren >= m.end():
            return True
    return False


def check_expanded(preprocessed: str, source: str, policy: Policy = Policy()) -> list[str]:
    """The banned-call rules again, on the lines of `source` after the preprocessor (`gcc -E`
    output with line markers): token pasting (`CAT(fop, en)`) or a macro can build a name the
    check on the source never sees. Only the candidate's own lines count; system headers and a
    target's force-included header declare and use such names legitimately."""
    own, file, line = [], None, 0
    for text in preprocessed.splitlines():
        marker = re.match(r'#\s*(\d+)\s+"([^"]*)"', text)
        if marker:
            line, file = int(marker[1]), marker[2]
            continue
        if file is not None and file.endswith(source):
            own.append((line, text))
        line += 1
    clean = strip_comments_and_strings("\n".join(text for _, text in own))
    breaks = [m.start() for m in re.finditer("\n", clean)]
    lines = [n for n, _ in own]
    return [f"line {lines[bisect.bisect_left(breaks, pos)]}: `{name}` (built by a macro) — {reason}"
            for name, reason, pos in _banned_calls(clean, policy)]


def too_large(code: str) -> str | None:
    """The error for code over MAX_CODE_BYTES, checked before anything else looks at it."""
    if len(code) * 4 <= MAX_CODE_BYTES:  # at most 4 bytes a character: no need to encode
        return None
    size = len(code) if len(code) > MAX_CODE_BYTES else len(code.encode(errors="replace"))
    if size <= MAX_CODE_BYTES:
        return None
    return (f"the code is {size:,} bytes; at most {MAX_CODE_BYTES:,} bytes are accepted "
            "(a kernel is a few kilobytes: generated tables or data belong in the problem's inputs)")


def check(code: str, entry: str, policy: Policy = Policy()) -> list[str]:
    """Return human-readable violations (empty when the code is acceptable)."""
    oversized = too_large(code)
    if oversized:
        return [oversized]
    clean = strip_comments_and_strings(code)
    breaks = [m.start() for m in re.finditer("\n", clean)]
    problems: list[str] = []

    def line_of(pos: int) -> int:
        return bisect.bisect_left(breaks, pos) + 1

    problems += [f"line {line_of(pos)}: `{name}` — {reason}" for name, reason, pos in _banned_calls(clean, policy)]
    with_strings = strip_comments(code)
    for m in re.finditer(r"\b(?:__asm__|asm)\b[^;]*", with_strings):
        bad = re.search(BANNED_ASM[0], m.group(0))
        if bad:
            problems.append(f"line {line_of(m.start())}: `{bad.group(0)}` — {BANNED_ASM[1]}")
            break
    load_time = _load_time_code(clean)
    if load_time is not None:
        start, end = load_time
        quoted = " ".join(clean[start:end].split())
        quoted = quoted if len(quoted) <= 120 else quoted[:50] + " ... " + quoted[-50:]
        problems.append(f"line {line_of(start)}: `{quoted}` — {LOAD_TIME_REASON}")
    for regex, reason in BANNED_PATTERNS + list(policy.extra_banned):
        m = re.search(regex, clean)
        if m:
            problems.append(f"line {line_of(m.start())}: `{m.group(0).strip()}` — {reason}")
    if not _defines_entry(clean, entry):
        problems.append(f"the entry function `{entry}` is not defined; keep the exact signature")
    if policy.required and not any(re.search(r, clean) for r in policy.required):
        problems.append(policy.required_reason)
    return problems
