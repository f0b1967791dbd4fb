"""A token bucket per key (an address, a participant): bounded memory, no I/O."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Allows ``rate`` events per ``per`` seconds per key, with bursts up to ``burst``.

    Keeps at most ``max_keys`` buckets, dropping the least recently used.
    """

    def __init__(
        self,
        rate: float,
        per: float,
        burst: float | None = None,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate / per
        self.burst = burst if burst is not None else rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            tokens = self.burst
        else:
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            buckets.move_to_end(key)
        allowed = tokens >= cost
        buckets[key] = (tokens - cost if allowed else tokens, now)
        while len(buckets) > self.max_keys:
            buckets.popitem(last=False)
        return allowed
