"""A test-side answerer for the file relay (files::DIR): a thread that reads each prompt file
and writes the reply a test's function gives (a script, not a model)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable

_PHASE = re.compile(r"phase (\w+)")

Answer = Callable[[str, str], "str | None"]  # (phase, prompt) -> reply, or None to leave it unanswered


def phase_of(request: Path) -> str | None:
    match = _PHASE.search(request.read_text().split("\n", 1)[0])
    return match.group(1) if match else None


class RelayAnswerer:
    """Answers `req-NNNN.md` files in `folder` until stopped (use as a context manager)."""

    def __init__(self, folder: Path, answer: Answer) -> None:
        self.folder, self.answer = folder, answer
        self.answered: list[tuple[str, str]] = []  # (request name, phase)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "RelayAnswerer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        skipped: set[str] = set()
        while not self._stop.is_set():
            for request in sorted(self.folder.glob("req-*.md")) if self.folder.exists() else []:
                reply = request.with_suffix(".reply")
                if reply.exists() or request.name in skipped:
                    continue
                phase = phase_of(request) or ""
                try:
                    text = self.answer(phase, request.read_text())
                except AssertionError as exc:
                    self.errors.append(str(exc))
                    text = None
                if text is None:
                    skipped.add(request.name)
                    continue
                tmp = reply.with_name(reply.name + ".tmp")
                tmp.write_text(text)
                os.replace(tmp, reply)
                self.answered.append((request.name, phase))
            self._stop.wait(0.05)
