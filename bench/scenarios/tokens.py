"""Token check throughput: Homer's HS256 ``check`` against plain ``jwt.decode``.

Both verify the same HS256 token (signature, audience, expiry) in a single
thread, i.e. on one core; the PyJWT baseline is measured in the same run so
that the ratio does not depend on the machine. The target is 50,000 Homer
checks per second. EdDSA is measured too: it is what an application uses when
its own backend mints tokens, and its cost is the signature, not Homer.
"""

from __future__ import annotations

import statistics
from typing import Any

import jwt

from homer.identity.tokens import JWTKey, SignedTokens, TokenManager

from .common import Record, rate, record

SCENARIO = "token_check"
USER = {"id": "u-1", "name": "alice"}


def run(quick: bool) -> list[Record]:
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
    rate(homer.check, token, homer_count // 10)  # warm up
    rate(pyjwt_check, token, pyjwt_count // 10)
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        homer_rates.append(rate(homer.check, token, homer_count))
        pyjwt_rates.append(rate(pyjwt_check, token, pyjwt_count))
        eddsa_rates.append(rate(eddsa.check, eddsa_token, eddsa_count))

    homer_rate = statistics.median(homer_rates)
    pyjwt_rate = statistics.median(pyjwt_rates)
    return [
        record(SCENARIO, "homer", "checks_per_second", round(homer_rate), "checks/s"),
        record(SCENARIO, "pyjwt", "checks_per_second", round(pyjwt_rate), "checks/s"),
        record(SCENARIO, "homer", "ratio_vs_pyjwt", round(homer_rate / pyjwt_rate, 2), "x"),
        record(
            SCENARIO,
            "homer",
            "eddsa_checks_per_second",
            round(statistics.median(eddsa_rates)),
            "checks/s",
        ),
    ]
