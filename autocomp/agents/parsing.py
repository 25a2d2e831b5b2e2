"""Pull plans and code out of real-world model replies.

Replies come with reasoning sections, several code blocks, missing language tags and
prose after the code. We take the text after the last reasoning close tag, then the
last fenced block that defines the entry function (fences and definitions as the problem's
kernel language writes them); failing that, the entry function if it is clearly there. A reply with no recognisable code is a failure: we never compile prose.
In edits mode the reply holds old/new string pairs instead, applied to the parent here.
"""

from __future__ import annotations

import json
import re

from autocomp.language import KernelLanguage
from autocomp.targets.base import MenuItem

THINK_CLOSE = re.compile(r"</(think|thinking|reasoning|plan_thinking)>", re.I)
JSON_FENCE = re.compile(r"```[ \t]*json[^\n]*\n(.*?)(?:```|\Z)", re.S | re.I)
FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
NEW_STRATEGY = re.compile(r"(?im)^[\s*#>_-]*(?:new|own)\s+strategy\s*[:#-]\s*\**\s*(.+?)\s*\**\s*$")
MENU_LINE = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+\**(.+?)\**\s*(?::|\s-\s|\s\u2013\s)\s*(.*)$")
ITEM = re.compile(r"(?im)^[\s*#>_-]*(?:chosen\s+)?(?:menu\s+)?(?:item|option|strategy)\s*(?:number|no\.?)?\s*[:#]?\s*\**\s*(\d+)")


def strip_reasoning(reply: str) -> str:
    """Drop everything up to the last reasoning close tag (and an unclosed trailing open tag)."""
    last = None
    for last in THINK_CLOSE.finditer(reply):
        pass
    text = reply[last.end():] if last else reply
    return re.sub(r"<think>.*\Z", "", text, flags=re.S | re.I).strip()


def extract_code(reply: str, entry: str, language: KernelLanguage) -> str | None:
    """The last fenced block in `language` that defines `entry` (a block that only calls it,
    like a usage example, is a fallback; blocks with other fence tags count only when none has
    the language's), else unfenced code that clearly defines it. JSON is never code."""
    text = JSON_FENCE.sub("", strip_reasoning(reply))
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text)]
    ours = [body for lang, body in blocks if lang in language.accepted_fences]
    defines = re.compile(language.defines(entry), re.M)
    mentions = re.compile(rf"\b{re.escape(entry)}\s*\(")
    for pattern in (defines, mentions):
        for body in reversed(ours or [b for _, b in blocks]):
            if pattern.search(body):
                return body.strip() + "\n"
    return language.unfenced(text, entry) if language.unfenced is not None else None


def extract_plan(reply: str, menu: tuple[MenuItem, ...]) -> tuple[str, str | None, bool]:
    """Return (plan text, chosen strategy or None if the reply did not say, whether that
    strategy is the plan's own). A `New strategy: NAME` line names a strategy of the model's
    own (it wins over a menu number, which then names a prerequisite or an inspiration)."""
    text = strip_reasoning(reply)
    own = NEW_STRATEGY.search(text)
    if own:
        name = own.group(1).strip().rstrip(".")[:120]
        known = next((m.name for m in menu if m.name.lower() == name.lower()), None)
        return text, known or name, known is None
    match = ITEM.search(text)
    item = None
    if match and 1 <= int(match.group(1)) <= len(menu):
        item = menu[int(match.group(1)) - 1].name
    else:
        lowered = text.lower()
        named = [m.name for m in menu if m.name.lower() in lowered]
        item = named[0] if named else None
    return text, item, False


def extract_menu_items(reply: str, count: int, known: tuple[MenuItem, ...]) -> tuple[MenuItem, ...]:
    """Up to `count` proposed menu items from lines like `- name: description` (or `1. name - ...`),
    leaving out names the menu already has and repeats."""
    seen = {m.name.lower() for m in known}
    items: list[MenuItem] = []
    for line in strip_reasoning(reply).splitlines():
        match = MENU_LINE.match(line)
        if not match:
            continue
        name, description = match.group(1).strip().strip("*`").strip(), match.group(2).strip()
        if not name or len(name) > 120 or name.lower() in seen:
            continue
        seen.add(name.lower())
        items.append(MenuItem(name, description))
        if len(items) == count:
            break
    return tuple(items)


# ---- edits mode -------------------------------------------------------------------------


class EditError(ValueError):
    """The reply's edits could not be read or applied; the message says which and why."""


_OLD_KEYS, _NEW_KEYS = ("old_str", "old", "search"), ("new_str", "new", "replace")


def extract_edits(reply: str) -> list[tuple[str, str]]:
    """(old, new) pairs from `{"edits": [{"old_str": ..., "new_str": ...}, ...]}` in the reply.

    The JSON may sit in a ```json block or bare in the text; a bare list of edits is accepted.
    """
    text = strip_reasoning(reply)
    candidates = list(reversed(JSON_FENCE.findall(text)))
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not candidates and starts:
        candidates = [text[min(starts): max(text.rfind("}"), text.rfind("]")) + 1]]
    problem = "no JSON object with edits found in the reply"
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError as exc:
            problem = f"the edits are not valid JSON ({exc})"
            continue
        edits = data.get("edits") if isinstance(data, dict) else data
        if not isinstance(edits, list) or not edits:
            problem = 'the JSON has no non-empty "edits" list'
            continue
        return [_edit_pair(i, item, len(edits)) for i, item in enumerate(edits)]
    raise EditError(problem)


def _edit_pair(i: int, item: object, total: int) -> tuple[str, str]:
    if isinstance(item, dict):
        old = next((item[k] for k in _OLD_KEYS if k in item), None)
        new = next((item[k] for k in _NEW_KEYS if k in item), None)
        if isinstance(old, str) and isinstance(new, str) and old:
            return old, new
    raise EditError(f"edit {i + 1} of {total} needs a non-empty old_str and a new_str")


def apply_edits(code: str, edits: list[tuple[str, str]]) -> str:
    """Apply edits in order; each old string replaces all its occurrences.

    An old string that is not in the code verbatim is matched again line by line with
    whitespace normalised (models often re-indent); if that fails too, the edit fails.
    """
    for i, (old, new) in enumerate(edits):
        if old in code:
            code = code.replace(old, new)
            continue
        replaced = _replace_normalised(code, old, new)
        if replaced is None:
            first = old.strip().splitlines()[0][:80] if old.strip() else old
            raise EditError(f"edit {i + 1} of {len(edits)}: old_str not found in the current code (it starts {first!r})")
        code = replaced
    return code


def _replace_normalised(code: str, old: str, new: str) -> str | None:
    def norm(line: str) -> str:
        return " ".join(line.split())

    target = [norm(line) for line in old.strip("\n").splitlines()]
    if not any(target):
        return None
    lines = code.splitlines()
    out, i, found = [], 0, False
    while i < len(lines):
        if [norm(line) for line in lines[i:i + len(target)]] == target:
            out.extend(new.strip("\n").splitlines())
            i, found = i + len(target), True
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out) + "\n" if found else None
