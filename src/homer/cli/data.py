"""``homer backup``, ``homer restore`` and ``homer copy``: a deployment's data
taken, brought back, and moved between stores (docs/operations.md)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from homer.cli.identity import common_options, fail
from homer.config import HomerConfig, with_backends
from homer.errors import HomerError
from homer.node.backup import restore as restore_backup
from homer.node.backup import take_backup
from homer.node.copying import copy_store
from homer.store.export import Table, Tally, compare
from homer.store.transfer import DEFAULT_BATCH, Reporter

__all__ = ["backup", "copy", "restore"]

T = TypeVar("T")

#: Seconds between two lines of progress when the output is not a terminal.
PLAIN_EVERY = 2.0
EXIT_INTERRUPTED = 130

_STORE_HELP = "sqlite (default), sqlite:///path.db or postgresql://user@host:port/db."


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


class _RichReport:
    """Progress bars on the terminal: one per table, rows, rate, time left."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, table: Table, copied: int, total: int) -> None:
        task = self._tasks.get(table.name)
        if task is None:
            task = self._tasks[table.name] = self.progress.add_task(
                table.name, total=max(total, copied), completed=copied
            )
        self.progress.update(task, completed=copied, total=max(total, copied))


class _PlainReport:
    """A line now and then, and one as each table ends, when not on a terminal."""

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, int]] = {}
        self._said = 0.0
        self._finished: set[str] = set()

    def __call__(self, table: Table, copied: int, total: int) -> None:
        now = time.monotonic()
        finished = copied >= total
        if table.name not in self._started and finished and copied:
            self._finished.add(table.name)
            click.echo(f"{table.name}: {copied} rows, copied before", err=True)
        since, first = self._started.setdefault(table.name, (now, copied))
        quiet = now - max(self._said, since) < PLAIN_EVERY
        if table.name in self._finished or (not finished and quiet):
            return
        if finished:
            self._finished.add(table.name)
        self._said = now
        rate = (copied - first) / (now - since) if now > since else 0.0
        left = f", {(total - copied) / rate:.0f} s left" if rate and not finished else ""
        click.echo(f"{table.name}: {copied}/{total} rows, {rate:,.0f} rows/s{left}", err=True)


def _run(
    work: Callable[[Reporter], Coroutine[Any, Any, T]], *, interrupted: str = "interrupted"
) -> T:
    """Run ``work`` with the progress view that suits standard error; a refusal
    exits 1 with its reason, Ctrl-C exits 130 saying ``interrupted``."""
    try:
        if sys.stderr.isatty():
            view = _RichReport()
            with view.progress:
                return asyncio.run(work(view))
        return asyncio.run(work(_PlainReport()))
    except HomerError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        fail(interrupted, EXIT_INTERRUPTED)


def _show(source: Tally, target: Tally, *, left: str, right: str) -> list[str]:
    """Print the comparison of two tallies; the differences."""
    width = max(len(name) for name in source.counts | target.counts)
    click.echo(f"{'table':<{width}}  {left:>12}  {right:>12}")
    for name in source.counts | target.counts:
        a, b = source.counts.get(name), target.counts.get(name)
        mark = "" if a == b else "  DIFFERS"
        click.echo(f"{name:<{width}}  {_count(a):>12}  {_count(b):>12}{mark}")
    problems = compare(source, target)
    rooms = len(source.rooms | target.rooms)
    differing = sum(1 for p in problems if p.startswith("room "))
    click.echo(f"rooms checked: {rooms}, sums equal: {rooms - differing}, differing: {differing}")
    return problems


def _say(line: str) -> None:
    click.echo(line, err=True)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@click.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--store", default=None, metavar="URL", help=_STORE_HELP)
@common_options
def backup(config: HomerConfig, path: Path, store: str | None) -> None:
    """Take a consistent backup of the store, the token keys and the shared files
    into the new directory PATH, while the server runs.

    From SQLite with SQLite's online backup API; from PostgreSQL as a logical
    export, every table read from one snapshot. PATH/manifest.json lists row
    counts, a sum per room and the sha256 of every file, which restore checks.
    """
    config = with_backends(config, store=store)
    done = _run(
        lambda report: take_backup(config, path, report=report),
        interrupted="interrupted: the unfinished backup was removed",
    )
    manifest = done.manifest
    size = sum(f.size for f in manifest.files)
    click.echo(
        f"backed up the {manifest.store} store (schema {manifest.schema_version}) into {path}:"
        f" {manifest.tally.counts.get('messages', 0)} messages in {len(manifest.tally.rooms)}"
        f" rooms, {len(manifest.files)} files, {size / 1e6:.1f} MB, in {done.seconds:.1f} s"
    )


@click.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--store", default=None, metavar="URL", help=_STORE_HELP)
@common_options
def restore(config: HomerConfig, path: Path, store: str | None) -> None:
    """Bring the backup at PATH back into an empty data directory (and an empty
    store, when --store names PostgreSQL).

    Every file is checked against the backup's manifest first, and a target
    that holds data is refused; nothing is written then. Afterwards the
    restored store's row counts and per-room sums are compared with the manifest.
    """
    config = with_backends(config, store=store)
    manifest, tally = _run(
        lambda report: restore_backup(config, path, report=report),
        interrupted="interrupted: empty the target again before restoring into it"
        " (a PostgreSQL one may stay: the same command goes on)",
    )
    click.echo(
        f"restored the backup of {manifest.store} at {path}:"
        f" {tally.counts.get('messages', 0)} messages in"
        f" {len(tally.rooms)} rooms; counts and sums match the backup's manifest"
    )


@click.command()
@click.option("--from", "source", required=True, metavar="URL", help="The store to copy.")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="An empty store, or one a copy from the same source stopped in.",
)
@click.option(
    "--blob-to",
    default=None,
    metavar="URL",
    help="Also copy the files' bytes into this file storage (file:///dir or s3://...).",
)
@click.option(
    "--blob-from",
    default=None,
    metavar="URL",
    help="Where the files' bytes are now [default: the configured blob setting].",
)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Rows per batch and per transaction.",
)
@common_options
def copy(
    config: HomerConfig,
    source: str,
    target: str,
    batch: int,
    blob_from: str | None,
    blob_to: str | None,
) -> None:
    """Copy everything from one store into another: accounts, groups, tokens'
    revocations, rooms, members, history, read markers, files' records.

    URLs as for --store: sqlite (the data directory's), sqlite:///path.db or
    postgresql://user@host:port/db. Stop the servers using the source first.
    The copy goes table by table in batches and keeps its progress in the
    target: stopped anywhere, the same command goes on where it stopped. At
    the end it compares the row counts and per-room sums of both sides, and
    exits 1 if they differ. The shared files' bytes stay where they are,
    unless --blob-to names another file storage to copy them into (the
    target's files then point at their new keys there).
    """
    if blob_from is not None and blob_to is None:
        raise click.UsageError("--blob-from goes with --blob-to")
    blobs = (blob_from or config.blob, blob_to) if blob_to is not None else None
    tallies = _run(
        lambda report: copy_store(
            source,
            target,
            data_dir=config.data_path,
            batch=batch,
            report=report,
            say=_say,
            blobs=blobs,
        ),
        interrupted="interrupted: run the same command again to go on where it stopped",
    )
    problems = _show(*tallies, left="source", right="target")
    if problems:
        for problem in problems:
            click.echo(f"homer: differs: {problem}", err=True)
        fail("the copy differs from its source")
    click.echo("the copy matches its source")
