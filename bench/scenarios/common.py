"""What every scenario shares: the record format, a one-core rate measurement and
a plain-text table for a scenario's own summary."""

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


def table(rows: list[list[str]]) -> str:
    """``rows`` (the first one the header) as aligned text: the first column to the
    left, the others to the right, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
