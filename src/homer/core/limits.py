"""Rate limits as token buckets: cheap enough to check on every request.

:class:`LoginLimits` composes them for password attempts (docs/decisions/
0022-login-throttling.md): strict per account and address, loose per address,
and an account-wide bucket that, once spent, refuses only addresses the
account never logged in from, so nobody can lock the owner out by name.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["KeyedBuckets", "KnownAddresses", "LoginLimits", "TokenBucket"]


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


class KnownAddresses:
    """Addresses each account logged in from successfully: the ``per_account``
    most recent for at most ``accounts`` accounts (the least recently used
    account is forgotten first). Held in memory: a restart forgets them."""

    __slots__ = ("_seen", "accounts", "per_account")

    def __init__(self, *, per_account: int = 8, accounts: int = 100_000) -> None:
        self.per_account = per_account
        self.accounts = accounts
        self._seen: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def add(self, account: str, address: str) -> None:
        addresses = self._seen.pop(account, None) or OrderedDict()
        addresses.pop(address, None)
        addresses[address] = None
        while len(addresses) > self.per_account:
            addresses.popitem(last=False)
        self._seen[account] = addresses
        while len(self._seen) > self.accounts:
            self._seen.popitem(last=False)

    def knows(self, account: str, address: str) -> bool:
        addresses = self._seen.get(account)
        return addresses is not None and address in addresses

    def __len__(self) -> int:
        return len(self._seen)


class LoginLimits:
    """Password attempts a minute: ``per_pair`` for one account from one address,
    ``per_address`` for one address over every account, ``per_account`` for one
    account over every address. The last binds only addresses the account has
    not logged in from: a flood from many addresses cannot lock the owner out of
    a device they used before."""

    __slots__ = ("by_account", "by_address", "by_pair", "known")

    def __init__(
        self,
        *,
        per_pair: int,
        per_address: int,
        per_account: int,
        known: KnownAddresses | None = None,
    ) -> None:
        self.by_pair = KeyedBuckets(per_pair / 60.0, per_pair)
        self.by_address = KeyedBuckets(per_address / 60.0, per_address)
        self.by_account = KeyedBuckets(per_account / 60.0, per_account)
        self.known = known or KnownAddresses()

    def take(self, account: str, address: str, now: float) -> tuple[float, str]:
        """Count one attempt; return ``(0, "")`` if allowed, else the seconds to wait
        and which limit refused it: ``account_address``, ``address`` or ``account``."""
        pair = self.by_pair.take(f"{account}\x00{address}", now)
        if pair:
            return pair, "account_address"
        wait = self.by_address.take(address, now)
        if wait:
            return wait, "address"
        if self.known.knows(account, address):
            return 0.0, ""
        wait = self.by_account.take(account, now)
        return (wait, "account") if wait else (0.0, "")

    def succeeded(self, account: str, address: str) -> None:
        """Remember that ``address`` logged into ``account``."""
        self.known.add(account, address)
