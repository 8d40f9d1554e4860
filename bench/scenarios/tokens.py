"""Token check throughput: Homer's HS256 ``check`` against plain ``jwt.decode``.

Both verify the same HS256 token (signature, audience, expiry) in a single
thread, i.e. on one core; the PyJWT baseline is measured in the same run so
that the ratio does not depend on the machine. The target is 50,000 Homer
checks per second. EdDSA is measured too: it is what an application uses when
its own backend mints tokens, and its cost is the signature, not Homer.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import jwt

from homer.identity.tokens import JWTKey, SignedTokens, TokenManager

SCENARIO = "token_check"
USER = {"id": "u-1", "name": "alice"}


def _rate(check: Callable[[str], Any], token: str, count: int) -> float:
    """Checks per second over ``count`` back-to-back checks, GC paused as timeit does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(count):
            check(token)
        elapsed = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return count / elapsed


def _record(system: str, metric: str, value: float, unit: str) -> dict[str, object]:
    return {"scenario": SCENARIO, "system": system, "metric": metric, "value": value, "unit": unit}


def run(quick: bool) -> list[dict[str, object]]:
    rounds = 5 if quick else 9
    homer_count, pyjwt_count, eddsa_count = (
        (5_000, 2_000, 300) if quick else (50_000, 10_000, 3_000)
    )

    key = JWTKey.generate("bench")
    secret = key.verification_key
    homer = TokenManager(SignedTokens([key]))
    token = homer.issue(USER)

    def pyjwt_check(text: str) -> Any:
        return jwt.decode(text, secret, algorithms=["HS256"], audience="homer")

    assert homer.check(token) == pyjwt_check(token)  # same token, same verdict

    eddsa = TokenManager(SignedTokens([JWTKey.generate("bench-ed", "EdDSA")]))
    eddsa_token = eddsa.issue(USER)

    homer_rates: list[float] = []
    pyjwt_rates: list[float] = []
    eddsa_rates: list[float] = []
    _rate(homer.check, token, homer_count // 10)  # warm up
    _rate(pyjwt_check, token, pyjwt_count // 10)
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        homer_rates.append(_rate(homer.check, token, homer_count))
        pyjwt_rates.append(_rate(pyjwt_check, token, pyjwt_count))
        eddsa_rates.append(_rate(eddsa.check, eddsa_token, eddsa_count))

    homer_rate = statistics.median(homer_rates)
    pyjwt_rate = statistics.median(pyjwt_rates)
    return [
        _record("homer", "checks_per_second", round(homer_rate), "checks/s"),
        _record("pyjwt", "checks_per_second", round(pyjwt_rate), "checks/s"),
        _record("homer", "ratio_vs_pyjwt", round(homer_rate / pyjwt_rate, 2), "x"),
        _record(
            "homer",
            "eddsa_checks_per_second",
            round(statistics.median(eddsa_rates)),
            "checks/s",
        ),
    ]


if __name__ == "__main__":
    import sys

    for record in run(quick="--quick" in sys.argv):
        print(record)
