"""Per-provider request limits: requests in flight, and optionally requests and tokens per minute.

The search calls models from a thread pool, so the limits are thread-based (a semaphore
and a sliding one-minute window); one limiter is shared by every model of a provider.
Token limits count the tokens providers reported over the last minute, so a request
starts once the window has room again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from autocomp.llm.base import ProviderSettings


class Limiter:
    def __init__(self, concurrency: int, requests_per_minute: int | None = None, tokens_per_minute: int | None = None,
                 window_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self.rpm, self.tpm, self.window_s = requests_per_minute, tokens_per_minute, window_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the provider's concurrent slots, after the per-minute window has room."""
        with self._slots:
            self._wait_for_window()
            yield

    def record_tokens(self, tokens: int) -> None:
        if self.tpm is not None and tokens > 0:
            with self._lock:
                self._tokens.append((self._clock(), tokens))

    def _wait_for_window(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                horizon = now - self.window_s
                while self._starts and self._starts[0] <= horizon:
                    self._starts.popleft()
                while self._tokens and self._tokens[0][0] <= horizon:
                    self._tokens.popleft()
                waits = []
                if self.rpm is not None and len(self._starts) >= self.rpm:
                    waits.append(self._starts[0] - horizon)
                if self.tpm is not None and sum(n for _, n in self._tokens) >= self.tpm:
                    waits.append(self._tokens[0][0] - horizon)
                if not waits:
                    self._starts.append(now)
                    return
            self._sleep(max(min(waits), 0.001))


_limiters: dict[tuple[str, int, int | None, int | None], Limiter] = {}
_registry_lock = threading.Lock()


def limiter_for(settings: ProviderSettings) -> Limiter:
    """The limiter shared by every model of one provider (with the same limits)."""
    key = (settings.name, settings.concurrency, settings.requests_per_minute, settings.tokens_per_minute)
    with _registry_lock:
        if key not in _limiters:
            _limiters[key] = Limiter(settings.concurrency, settings.requests_per_minute, settings.tokens_per_minute)
        return _limiters[key]
