"""``homer`` under cProfile, switched on and off by signals: a launcher for diagnosis.

    BENCH_HOMER_LAUNCHER="python bench/probe.py" PROBE_OUT=/tmp/join python bench/run.py ...

The server runs as ``python -m homer`` would; ``SIGUSR1`` starts profiling the
event loop's thread, ``SIGUSR2`` stops it and writes ``$PROBE_OUT-<n>.prof``
(``pstats`` format; ``python -m pstats`` or snakeviz read it). Sampling
profilers (py-spy) say where the time goes, but on a 2-core machine shared with
the clients their figures move by 20% from run to run; the number of Python calls
per operation does not, so two versions of the code can be compared from one
short run each (``pstats.Stats(...).total_calls`` over the operations done
between the two signals).
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from typing import Any

profile = cProfile.Profile()
dumped = 0


def start(*_: Any) -> None:
    profile.enable()


def stop(*_: Any) -> None:
    global dumped
    profile.disable()
    dumped += 1
    profile.dump_stats(f"{os.environ.get('PROBE_OUT', 'homer-probe')}-{dumped}.prof")
    profile.clear()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["homer", *sys.argv[1:]]
    runpy.run_module("homer", run_name="__main__", alter_sys=True)
