"""Homer's benchmarks: ``python bench/run.py [--quick] [--json PATH] [--only NAME ...]``.

Each scenario measures Homer and a baseline in the same run (python-socketio;
Mosquitto too in ``fanout``, ``small_rooms`` and the ``mqtt_`` ones) and reports
medians; on a small, noisy machine the ratio is the figure to trust, not a lone
absolute number. Records are ``{"scenario", "system", "metric",
"value", "unit"}``; ``--json`` writes them as a JSON array. A scenario module
with a ``summary(records)`` function also gets its own table after the common
one. ``--quick`` finishes in under a minute.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Scenario modules under bench/scenarios, in the order they run.
SCENARIOS = [
    "permissions",
    "tokens",
    "history",
    "persistence",
    "setup",
    "presence",
    "idle",
    "fanout",
    "small_rooms",
    "mqtt_small_rooms",
    "transports",
    "irc_fanout",
    "mqtt_fanout",
    "asgi",
    "slowloris",
    "stall",
    "servers",
    "cluster",
    "local_queue",
    "files",
    "search",
    "reactions",
    "login_flood",
    "hoarders",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the records here")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, metavar="NAME", help=f"one of {SCENARIOS}"
    )
    args = parser.parse_args(argv)

    records: list[dict[str, object]] = []
    summaries: list[str] = []
    for name in args.only or SCENARIOS:
        module = importlib.import_module(f"scenarios.{name}")
        started = time.perf_counter()
        found = module.run(args.quick)
        records += found
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        # A scenario may also lay its records out as a table of its own.
        summary = getattr(module, "summary", None)
        if summary is not None:
            summaries.append(summary(found))

    print_table(records)
    for text in summaries:
        if text:
            print(f"\n{text}")
    print(
        f"\n{platform.python_implementation()} {platform.python_version()},"
        f" {os.cpu_count()} cores, {'quick' if args.quick else 'full'} run",
    )
    if args.json:
        args.json.write_text(json.dumps(records, indent=2) + "\n")
    return 0


def print_table(records: list[dict[str, object]]) -> None:
    header = ("scenario", "system", "metric", "value", "unit")
    rows = [header] + [
        tuple(f"{r[k]:,}" if k == "value" else str(r[k]) for k in header) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column == 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


if __name__ == "__main__":
    raise SystemExit(main())
