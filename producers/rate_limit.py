"""In-memory token buckets for the citizen pages (per link, per client address).

In memory and per process: right for the embedded default (one process). With several web
processes each keeps its own buckets, so the effective limit is that many times higher;
put a rate limit in the reverse proxy in front of them as well (docs/questionnaire.md).
Memory is bounded: at most `max_keys` buckets; the least recently used are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    capacity: int  # burst: this many requests at once
    period_seconds: float  # the bucket refills completely in this time
    max_keys: int = 50_000
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """0 when allowed (one token taken), else the seconds until a token is back."""
        now = self.clock()
        rate = self.capacity / self.period_seconds
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - last) * rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait
