"""Rate limits as token buckets: cheap enough to check on every request."""

from __future__ import annotations

__all__ = ["KeyedBuckets", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 if granted, else seconds until it would be."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= cost:
            self.tokens = tokens - cost
            return 0.0
        self.tokens = tokens
        return (cost - tokens) / self.rate


class KeyedBuckets:
    """One bucket per key (a user, an address), forgotten once full again."""

    __slots__ = ("_buckets", "burst", "rate")

    MAX_KEYS = 100_000

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float, cost: float = 1.0) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_KEYS:
                self.prune(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now, cost)

    def prune(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no information."""
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * b.rate >= b.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.MAX_KEYS:
            self._buckets.clear()
