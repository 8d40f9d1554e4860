"""Files through Homer's routes beside a plain aiohttp file handler: MB/s of a
50 MB upload and download over 127.0.0.1.

Three servers, each its own process on uvloop (``bench/baselines/files_server.py``),
run for the whole scenario:

* ``homer``: ``POST /api/files`` (a raw body) and ``GET /api/files/{id}``, with a
  token, through the request pipeline, the file service and the file adapter of
  the Blob port without fsync (as the plain handler);
* ``homer-fsync``: the same with the adapter's default, an fsync of each file
  before it is published (what ``homer serve`` does unless told otherwise);
* ``plain``: an aiohttp handler streaming the body into a file, and
  ``web.FileResponse`` (sendfile) to download it.

One client (aiohttp, this process) uploads the same 50 MB (10 MB in --quick)
of random bytes with a ``Content-Length``, then downloads the file just stored
and reads it to the end, discarding it. Rounds alternate which server goes
first; each figure is the median of the rounds. Metrics: ``upload_mb_per_s``
and ``download_mb_per_s`` (MB = 10^6 bytes), and ``ratio:homer`` rows,
Homer / plain (the goal is at least 0.8).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import Record, record, table

SCENARIO = "files"
SERVER = Path(__file__).resolve().parent.parent / "baselines" / "files_server.py"
SYSTEMS = ["homer", "homer-fsync", "plain"]
METRICS = ["upload_mb_per_s", "download_mb_per_s"]


def run(quick: bool) -> list[Record]:
    size = (10 if quick else 50) * 1_000_000
    rounds = 3 if quick else 7
    root = Path(tempfile.mkdtemp(prefix="homer-bench-files-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        servers = {}
        for system in SYSTEMS:
            where = root / system
            where.mkdir()
            kind = "plain" if system == "plain" else "homer"
            flags = ["--fsync"] if system == "homer-fsync" else []
            process = subprocess.Popen(
                [sys.executable, str(SERVER), kind, "--dir", str(where), *flags],
                stdout=subprocess.PIPE,
            )
            processes.append(process)
            assert process.stdout is not None
            servers[system] = json.loads(process.stdout.readline())
        samples = asyncio.run(_measure(servers, size, rounds))
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
        shutil.rmtree(root, ignore_errors=True)
    unit = f"MB/s, {size // 1_000_000} MB"
    records = [
        record(SCENARIO, system, metric, round(statistics.median(samples[system][metric]), 1), unit)
        for system in SYSTEMS
        for metric in METRICS
    ]
    for system in ("homer", "homer-fsync"):
        for metric in METRICS:
            ratio = statistics.median(
                ours / theirs
                for ours, theirs in zip(
                    samples[system][metric], samples["plain"][metric], strict=True
                )
            )
            records.append(record(SCENARIO, f"ratio:{system}", metric, round(ratio, 2), "x plain"))
    return records


async def _measure(
    servers: dict[str, dict[str, str]], size: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    import aiohttp

    data = os.urandom(size)
    samples: dict[str, dict[str, list[float]]] = {s: {m: [] for m in METRICS} for s in SYSTEMS}
    async with aiohttp.ClientSession() as http:
        for turn in range(rounds + 1):  # the first round warms up and is not counted
            order = SYSTEMS[turn % len(SYSTEMS) :] + SYSTEMS[: turn % len(SYSTEMS)]
            for system in order:
                up, down = await _round(http, system, servers[system], data)
                if turn:
                    samples[system]["upload_mb_per_s"].append(size / up / 1e6)
                    samples[system]["download_mb_per_s"].append(size / down / 1e6)
    return samples


async def _round(
    http: Any, system: str, server: dict[str, str], data: bytes
) -> tuple[float, float]:
    """Seconds to upload ``data``, then to download it back."""
    homer = system != "plain"
    upload = f"{server['url']}/api/files?name=bench.bin" if homer else f"{server['url']}/files"
    headers = {"Content-Type": "application/octet-stream"}
    if homer:
        headers["Authorization"] = f"Bearer {server['token']}"
    started = time.perf_counter()
    async with http.post(upload, data=data, headers=headers) as response:
        answer = await response.json()
        if response.status != 201:
            raise RuntimeError(f"{system}: upload answered {response.status}: {answer}")
    up = time.perf_counter() - started
    download = (
        f"{server['url']}/api/files/{answer['id']}"
        if homer
        else f"{server['url']}/files/{answer['id']}"
    )
    received = 0
    started = time.perf_counter()
    async with http.get(download, headers=headers) as response:
        async for chunk in response.content.iter_chunked(1 << 20):
            received += len(chunk)
    down = time.perf_counter() - started
    if received != len(data):
        raise RuntimeError(f"{system}: downloaded {received} bytes of {len(data)}")
    return up, down


def summary(records: list[Record]) -> str:
    rows = [["files", *METRICS]]
    for system in [*SYSTEMS, "ratio:homer", "ratio:homer-fsync"]:
        values = {r["metric"]: r["value"] for r in records if r["system"] == system}
        rows.append([system, *(str(values.get(metric, "")) for metric in METRICS)])
    return table(rows)
