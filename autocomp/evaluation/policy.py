"""Static policy checked before compiling a candidate (docs/evaluation-hygiene.md R4).

The sandbox contains what a kernel can do to the machine; this catches what it could
do to the *score*: calling libraries, spawning threads, touching timers or I/O, code
that runs at load time, fishing for the harness. Comments and string literals are
stripped first so prose cannot trigger a rule; each violation names the line and why,
which is useful feedback for the model that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

BANNED_PATTERNS: list[tuple[str, str]] = [
    (r"__attribute__\s*\(\([^;{]*\b(constructor|destructor|section|ifunc|alias)\b",
     "load-time code (constructors, destructors, custom sections, ifunc/alias) is not allowed"),
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


def strip_comments_and_strings(code: str) -> str:
    """Blank out comments and string/char literals, keeping line structure for line numbers."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)

    def blank(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith('"') and re.search(r"#\s*include\s*$", code[: match.start()].rsplit("\n", 1)[-1]):
            return text  # keep `#include "x.h"` visible so its rule can fire
        return re.sub(r"[^\n]", " ", text)

    return pattern.sub(blank, code)


def strip_comments(code: str) -> str:
    """Blank out comments only (inline asm lives in string literals)."""
    return re.sub(r"//[^\n]*|/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), code, flags=re.S)


def _banned_calls(clean: str, policy: Policy) -> list[tuple[str, str, int]]:
    """(name, reason, position) of the first use of each banned function in `clean` code."""
    found = []
    for name, reason in BANNED_CALLS.items():
        if name in policy.allowed_calls:
            continue
        # a call, an address-of, or any use as a value (e.g. a cast function pointer); also __builtin_NAME
        ident = rf"(?<![\w.>])(?:__builtin_)?{re.escape(name)}\b"
        m = re.search(rf"{ident}\s*\(|&\s*{ident}|\(\s*[\w\s\*\(\),]*\)\s*{ident}|=\s*{ident}\s*;", clean)
        if m:
            found.append((name, reason, m.start()))
    return found


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
    lines = [n for n, _ in own]
    return [f"line {lines[clean.count(chr(10), 0, pos)]}: `{name}` (built by a macro) — {reason}"
            for name, reason, pos in _banned_calls(clean, policy)]


def check(code: str, entry: str, policy: Policy = Policy()) -> list[str]:
    """Return human-readable violations (empty when the code is acceptable)."""
    clean = strip_comments_and_strings(code)
    problems: list[str] = []

    def line_of(pos: int) -> int:
        return clean.count("\n", 0, pos) + 1

    problems += [f"line {line_of(pos)}: `{name}` — {reason}" for name, reason, pos in _banned_calls(clean, policy)]
    with_strings = strip_comments(code)
    for m in re.finditer(r"\b(?:__asm__|asm)\b[^;]*", with_strings):
        bad = re.search(BANNED_ASM[0], m.group(0))
        if bad:
            problems.append(f"line {with_strings.count(chr(10), 0, m.start()) + 1}: `{bad.group(0)}` — {BANNED_ASM[1]}")
            break
    for regex, reason in BANNED_PATTERNS + list(policy.extra_banned):
        m = re.search(regex, clean)
        if m:
            problems.append(f"line {line_of(m.start())}: `{m.group(0).strip()}` — {reason}")
    if not re.search(rf"\b{re.escape(entry)}\s*\([^;{{]*\)\s*\{{", clean):
        problems.append(f"the entry function `{entry}` is not defined; keep the exact signature")
    if policy.required and not any(re.search(r, clean) for r in policy.required):
        problems.append(policy.required_reason)
    return problems
