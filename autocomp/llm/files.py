"""A model that answers through files: `files::DIR`.

Each request is written to DIR as a readable prompt file, `req-NNNN.md` (a header saying which
phase it is and where the reply goes, then the prompt), and the reply is read from
`req-NNNN.reply` beside it. Anything that can read a file and write one can serve as the model:
a coding agent (Claude Code, Codex CLI), a script, or a person pasting into a chat window. It
mixes with API models like any provider (`--models files::relay,openai::gpt-4o`).

A reply counts once the file exists and has not changed for a moment (so a half-written file
is not read); writing `req-NNNN.reply.tmp` and renaming it is the safe way. No reply within
`[llm.providers.files] timeout_s` (default 600 s) fails that call, and so that plan or
candidate, never the run. Numbers continue after the highest one already in DIR, so a resumed
run never overwrites an earlier request; replies a run already received are in its store and
are not asked again.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from autocomp.errors import UserError
from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage

POLL_S = 0.2
SETTLE_S = 0.5  # a reply file must be unchanged this long before it is read
_NUMBER = re.compile(r"^req-(\d+)\.md$")


class FileRelayProvider:
    is_llm = False  # whoever answers is not billed through us: no price, no cost
    label = "file relay (whoever answers the prompt files)"

    _numbering = threading.Lock()  # one lock for every relay in the process: numbers never collide

    def __init__(self, directory: str, settings: ProviderSettings | None = None) -> None:
        self.dir = Path(directory).expanduser()
        self.timeout_s = settings.timeout_s if settings else 600.0
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"files::{directory}: cannot create the relay folder ({exc.strerror}); "
                            "name a folder you can write to") from None

    def complete(self, request: Request) -> Response:
        name = self._write_request(request)
        reply = self.dir / f"{name}.reply"
        deadline = time.monotonic() + self.timeout_s
        seen: tuple[int, float] | None = None
        settled_at = 0.0
        while time.monotonic() < deadline:
            try:
                stat = reply.stat()
            except FileNotFoundError:
                time.sleep(POLL_S)
                continue
            now = (stat.st_size, stat.st_mtime)
            if now != seen:
                seen, settled_at = now, time.monotonic()
            elif time.monotonic() - settled_at >= SETTLE_S:
                text = reply.read_text(errors="replace")
                return Response(text=text, usage=Usage(input_tokens=0, output_tokens=0), finish_reason="stop")
            time.sleep(POLL_S)
        raise ProviderError(f"files::{self.dir}: no reply in {reply} within {self.timeout_s:g} s "
                            f"(the prompt is {self.dir / (name + '.md')}; raise [llm.providers.files] timeout_s to wait longer)")

    def _write_request(self, request: Request) -> str:
        """Write `req-NNNN.md` under the next free number and return `req-NNNN`."""
        with self._numbering:
            taken = [int(m.group(1)) for p in self.dir.iterdir() if (m := _NUMBER.match(p.name))]
            name = f"req-{max(taken, default=0) + 1:04d}"
            body = "\n\n".join(m.content for m in request.messages)
            header = (f"<!-- autocomp request {name}: phase {request.phase}, model files::{self.dir}. "
                      f"Write the complete reply to {name}.reply in this folder "
                      f"(write {name}.reply.tmp, then rename it). -->\n\n")
            tmp = self.dir / f".{name}.md.tmp"
            tmp.write_text(header + body)
            os.replace(tmp, self.dir / f"{name}.md")
        return name
