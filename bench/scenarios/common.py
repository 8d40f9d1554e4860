"""What every scenario shares: the record format and a one-core rate measurement."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

Record = dict[str, object]


def record(scenario: str, system: str, metric: str, value: float, unit: str) -> Record:
    """One result, in the format ``bench/run.py --json`` writes."""
    return {"scenario": scenario, "system": system, "metric": metric, "value": value, "unit": unit}


def rate(call: Callable[[Any], Any], argument: Any, count: int) -> float:
    """Calls per second over ``count`` back-to-back calls, GC paused as timeit does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(count):
            call(argument)
        elapsed = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return count / elapsed
