"""What a repair call is told: which failures are worth repairing and the precise failure.

A model fixes a kernel far more often when it sees exactly what went wrong: the compiler's
errors with their source lines (not pages of warnings), the first output element that differs
(index, expected, got, how many differ; `evaluation/checks.py` words it), the signal and the
operation that faulted, the emulator's misuse message. The evaluator's error text already
holds these; this module picks the lines that matter.
"""

from __future__ import annotations

import re

from autocomp.evaluation.result import EvalResult, Outcome

# Failures a model can act on. Policy violations are left out on purpose: the rules are in every
# prompt already, and a model that broke one tends to hide the call rather than drop it.
REPAIRABLE = (Outcome.COMPILE_ERROR, Outcome.CRASH, Outcome.TIMEOUT, Outcome.WRONG_ANSWER)

_DIAGNOSTIC = re.compile(r":\d+(?::\d+)?: (?:fatal )?error: |: undefined reference to |error: ld returned")
_CONTEXT = re.compile(r"^\s*\d*\s*\|")  # gcc's source excerpt and caret lines
MAX_ERRORS = 8
MAX_LINES = 60


def repairable(result: EvalResult | None) -> bool:
    return result is not None and result.outcome in REPAIRABLE


def compiler_errors(text: str) -> str:
    """The error lines of a compiler's output, each with its source excerpt; warnings, notes
    and 'In function' headers are dropped. Output with no recognisable error line is kept whole
    (trimmed), so nothing the model needs is lost."""
    lines = text.splitlines()
    kept: list[str] = []
    errors = 0
    i = 0
    while i < len(lines) and errors < MAX_ERRORS:
        if _DIAGNOSTIC.search(lines[i]):
            errors += 1
            kept.append(lines[i][:400])
            i += 1
            while i < len(lines) and _CONTEXT.match(lines[i]):
                kept.append(lines[i][:400])
                i += 1
            continue
        i += 1
    if not kept:
        kept = [line[:400] for line in lines]
    total = sum(1 for line in lines if _DIAGNOSTIC.search(line))
    if total > errors:
        kept.append(f"... ({total - errors} more errors; fix these first)")
    return "\n".join(kept[:MAX_LINES])


def failure_report(result: EvalResult) -> str:
    """The failure as a repair prompt states it: the verdict, then what exactly went wrong."""
    error = (result.error or "").strip()
    if result.outcome is Outcome.COMPILE_ERROR:
        return f"It did not compile. The compiler's errors:\n{compiler_errors(error)}"
    if result.outcome is Outcome.WRONG_ANSWER:
        return f"It ran but gave a wrong answer (checked against the reference on fresh random inputs):\n{error}"
    if result.outcome is Outcome.CRASH:
        return f"It crashed:\n{error}"
    if result.outcome is Outcome.TIMEOUT:
        return (f"It did not finish in time (an endless loop, or far too slow):\n{error}")
    return f"{result.outcome.value}: {error}"
