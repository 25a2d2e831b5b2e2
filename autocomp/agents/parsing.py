"""Pull plans and code out of real-world model replies.

Replies come with reasoning sections, several code blocks, missing language tags and
prose after the code. We take the text after the last reasoning close tag, then the
last fenced block; failing that, the entry function if it is clearly there. A reply with
no recognisable code is a failure: we never compile prose.
"""

from __future__ import annotations

import re

from autocomp.targets.base import MenuItem

THINK_CLOSE = re.compile(r"</(think|thinking|reasoning|plan_thinking)>", re.I)
FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
ITEM = re.compile(r"(?im)^[\s*#>_-]*(?:chosen\s+)?(?:menu\s+)?(?:item|option|strategy)\s*(?:number|no\.?)?\s*[:#]?\s*\**\s*(\d+)")


def strip_reasoning(reply: str) -> str:
    """Drop everything up to the last reasoning close tag (and an unclosed trailing open tag)."""
    last = None
    for last in THINK_CLOSE.finditer(reply):
        pass
    text = reply[last.end():] if last else reply
    return re.sub(r"<think>.*\Z", "", text, flags=re.S | re.I).strip()


def extract_code(reply: str, entry: str) -> str | None:
    text = strip_reasoning(reply)
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text)]
    c_like = [body for lang, body in blocks if lang in {"", "c", "cpp", "c++", "h"}]
    for body in reversed(c_like or [b for _, b in blocks]):
        if re.search(rf"\b{re.escape(entry)}\s*\(", body):
            return body.strip() + "\n"
    if re.search(rf"\bvoid\s+{re.escape(entry)}\s*\(", text) and "{" in text:
        return _from_first_c_line(text)
    return None


def _from_first_c_line(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*(#include|#define|typedef|static|void|int|float|double|const|struct)\b", line):
            body = "\n".join(lines[i:])
            end = body.rfind("}")
            return body[: end + 1] + "\n" if end >= 0 else None
    return None


def extract_plan(reply: str, menu: tuple[MenuItem, ...]) -> tuple[str, str | None]:
    """Return (plan text, chosen menu item name or None if the reply did not say)."""
    text = strip_reasoning(reply)
    match = ITEM.search(text)
    item = None
    if match and 1 <= int(match.group(1)) <= len(menu):
        item = menu[int(match.group(1)) - 1].name
    else:
        lowered = text.lower()
        named = [m.name for m in menu if m.name.lower() in lowered]
        item = named[0] if named else None
    return text, item
