"""Scripted replies: NOT a language model.

`replay::FILE` serves canned replies from a TOML file, for tests and for reproducing a
run. The file has `plan = [...]`, `code = [...]` and optionally `direct`, `repair` and `menu`
arrays of strings; the n-th request of a phase (in the run's deterministic order) gets the n-th
entry. Running out of replies is a failed call, not an empty reply.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autocomp.errors import UserError, unreadable
from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage


class ReplayProvider:
    is_llm = False
    label = "scripted replies (not an LLM)"

    def __init__(self, path: str, settings: ProviderSettings | None = None) -> None:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise UserError(f"replay file {path} not found (model string replay::FILE)") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: invalid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"replay file {unreadable(path, exc)} (model string replay::FILE)") from None
        unknown = set(data) - {"plan", "code", "direct", "repair", "menu"}
        if unknown:
            raise UserError(f"{path}: unknown keys {sorted(unknown)}; expected arrays named plan, code, direct, repair, menu")
        self.replies: dict[str, list[str]] = {k: [str(x) for x in v] for k, v in data.items()}

    def complete(self, request: Request) -> Response:
        queue = self.replies.get(request.phase, [])
        if request.seq >= len(queue):
            raise ProviderError(f"replay script has no {request.phase} reply #{request.seq + 1} ({len(queue)} given)")
        text = queue[request.seq]
        return Response(text=text, usage=Usage(input_tokens=0, output_tokens=0), finish_reason="stop")
