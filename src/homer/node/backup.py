"""Backups of a deployment's data, taken while it runs, and their restore.

A backup is a directory::

    manifest.json       format, store kind, schema version, row counts, a sum per
                        room, and the size and sha256 of every other file here
    homer.db            the store, as an SQLite database file, whatever the store
    token-secret.key    the token secret (and token-private.pem, the private key
                        of EdDSA / RS256), so that issued tokens stay valid
    files/...           the shared files' blobs, when they live in the data dir

From SQLite, ``homer.db`` is taken with SQLite's online backup API: one
snapshot, while the server goes on writing. From PostgreSQL it is a logical
export into an SQLite file, every table read in one ``REPEATABLE READ``
transaction (decision 0021). ``manifest.json`` is written last: a directory
without one is not a backup.

A restore checks every file against the manifest before it writes anything,
and refuses a target holding data. Into SQLite it puts the file back; into
PostgreSQL it copies the tables (:mod:`homer.store.transfer`). Either way it
then compares the restored store's counts and sums with the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

import msgspec

from homer import __version__
from homer.blob.factory import open_blob
from homer.blob.filesystem import FileBlob
from homer.config import HomerConfig
from homer.errors import Conflict, InvalidInput
from homer.store.export import MANIFEST_FORMAT, FileEntry, Manifest, Tally, compare
from homer.store.factory import is_postgresql, open_tables, sqlite_path, unknown_store
from homer.store.sqlite.transfer import SQLiteTables, online_backup
from homer.store.transfer import Reporter, copy_tables

__all__ = ["MANIFEST", "STORE_FILE", "Backup", "read_manifest", "restore", "take_backup"]

MANIFEST = "manifest.json"
STORE_FILE = "homer.db"
SECRET_FILE = "token-secret.key"
PRIVATE_KEY_FILE = "token-private.pem"
FILES = "files"

_CHUNK = 1024 * 1024


class Backup(msgspec.Struct, frozen=True):
    """What :func:`take_backup` wrote."""

    path: str
    manifest: Manifest
    seconds: float


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _is_empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _blob_root(config: HomerConfig) -> Path | None:
    blob = open_blob(config)
    return blob.root if isinstance(blob, FileBlob) else None


def _key_files(config: HomerConfig) -> dict[str, Path]:
    """Where each key file a backup holds lives in the deployment."""
    keys = {SECRET_FILE: config.under_data_dir(config.tokens.secret_file)}
    if config.tokens.private_key_file:
        keys[PRIVATE_KEY_FILE] = config.under_data_dir(config.tokens.private_key_file)
    return keys


# -- backup ----------------------------------------------------------------------------


async def take_backup(config: HomerConfig, path: Path, *, report: Reporter | None = None) -> Backup:
    """A backup of ``config``'s deployment into the new directory ``path``."""
    if sqlite_path(config) is None and not is_postgresql(config.store):
        raise unknown_store(config.store)
    started = time.monotonic()
    created = await asyncio.to_thread(_make_target, path)
    try:
        manifest = await _write_backup(config, path, report)
    except BaseException:
        await asyncio.to_thread(_undo, path, created)
        raise
    return Backup(path=str(path), manifest=manifest, seconds=time.monotonic() - started)


def _make_target(path: Path) -> bool:
    """Make the backup's directory; whether it was not there before."""
    if not _is_empty_dir(path):
        raise Conflict(f"{path} exists and is not empty: back up into a new directory")
    created = not path.exists()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return created


def _undo(path: Path, created: bool) -> None:
    if created:
        shutil.rmtree(path, ignore_errors=True)
    else:
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


async def _write_backup(config: HomerConfig, path: Path, report: Reporter | None) -> Manifest:
    database = path / STORE_FILE
    source_file = sqlite_path(config)
    if source_file is not None:
        kind = "sqlite"
        await asyncio.to_thread(online_backup, source_file, database)
    elif is_postgresql(config.store):
        kind = "postgresql"
        await _export_postgresql(config.store, database, report)
    else:
        raise unknown_store(config.store)
    exported = SQLiteTables(database, writable=False)
    await exported.open()
    try:
        version = await exported.schema_version()
        tally = await exported.tally()
    finally:
        await exported.close()
    await asyncio.to_thread(_copy_files, config, path)
    entries = await asyncio.to_thread(_entries, path)
    manifest = Manifest(
        format=MANIFEST_FORMAT,
        homer_version=__version__,
        created_at=time.time(),
        store=kind,
        schema_version=version,
        tally=tally,
        files=entries,
    )
    await asyncio.to_thread(
        _write_private, path / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest))
    )
    return manifest


async def _export_postgresql(url: str, database: Path, report: Reporter | None) -> None:
    source = open_tables(url, data_dir=database.parent, writable=False)
    target = SQLiteTables(database, writable=True)
    await source.open()
    try:
        await target.open()
        try:
            await copy_tables(source, target, report=report)
            await target.forget_progress()
            await target.seal()
        finally:
            await target.close()
    finally:
        await source.close()


def _copy_files(config: HomerConfig, path: Path) -> None:
    for name, location in _key_files(config).items():
        if location.is_file():
            shutil.copyfile(location, path / name)
            os.chmod(path / name, 0o600)
    root = _blob_root(config)
    if root is None or not root.is_dir():
        return
    for source in sorted(root.rglob("*")):
        relative = source.relative_to(root)
        if relative.parts[0] == "tmp" or not source.is_file():
            continue
        target = path / FILES / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
            shutil.copyfile(source, target)


def _entries(path: Path) -> list[FileEntry]:
    return [
        FileEntry(path=f.relative_to(path).as_posix(), size=f.stat().st_size, sha256=_sha256(f))
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name != MANIFEST
    ]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


# -- restore ---------------------------------------------------------------------------


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup at ``path``, after checking every file it lists."""
    if not path.is_dir():
        raise InvalidInput(f"there is no backup at {path}")
    try:
        raw = (path / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path} is not a backup: it has no {MANIFEST}") from None
    try:
        manifest = msgspec.json.decode(raw, type=Manifest)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the backup at {path} is damaged: {MANIFEST}: {exc}") from exc
    if manifest.format != MANIFEST_FORMAT:
        raise InvalidInput(
            f"the backup at {path} has format {manifest.format}; this Homer reads {MANIFEST_FORMAT}"
        )
    for entry in manifest.files:
        if entry.path.startswith("/") or ".." in entry.path.split("/"):
            raise InvalidInput(f"the backup at {path} is damaged: it lists {entry.path!r}")
        file = path / entry.path
        if not file.is_file():
            raise InvalidInput(f"the backup at {path} is damaged: {entry.path} is missing")
        if file.stat().st_size != entry.size or _sha256(file) != entry.sha256:
            raise InvalidInput(
                f"the backup at {path} is damaged: {entry.path} does not match its checksum"
            )
    if STORE_FILE not in {e.path for e in manifest.files}:
        raise InvalidInput(f"the backup at {path} is damaged: it lists no {STORE_FILE}")
    return manifest


async def restore(
    config: HomerConfig, path: Path, *, report: Reporter | None = None
) -> tuple[Manifest, Tally]:
    """Restore the backup at ``path`` into ``config``'s empty store and data
    directory; the manifest and the restored store's tally (equal to it)."""
    manifest = await asyncio.to_thread(read_manifest, path)
    await asyncio.to_thread(_check_empty_files, config)
    blobs = sum(1 for entry in manifest.files if entry.path.startswith(f"{FILES}/"))
    if blobs and _blob_root(config) is None:
        raise InvalidInput(
            f"the backup holds {blobs} stored files but the file storage is not a directory:"
            " restore with blob = 'file', then move them with homer copy --blob-to"
        )
    database = sqlite_path(config)
    if database is None and not is_postgresql(config.store):
        raise unknown_store(config.store)
    if database is not None:
        if database.exists():
            raise Conflict(f"{database} exists: restore into an empty data directory")
        await asyncio.to_thread(_place_database, path / STORE_FILE, database)
        restored = SQLiteTables(database, writable=False)
        await restored.open()
        try:
            tally = await restored.tally()
        finally:
            await restored.close()
    else:
        tally = await _import_postgresql(config.store, path / STORE_FILE, report)
    await asyncio.to_thread(_place_files, config, path, manifest)
    problems = compare(manifest.tally, tally)
    if problems:
        raise InvalidInput("the restored store differs from the backup: " + "; ".join(problems))
    return manifest, tally


def _check_empty_files(config: HomerConfig) -> None:
    data = config.data_path
    if sqlite_path(config) is not None and not _is_empty_dir(data):
        raise Conflict(f"the data directory {data} is not empty: restore into an empty one")
    for location in _key_files(config).values():
        if location.exists():
            raise Conflict(f"{location} exists: restore into an empty data directory")
    root = _blob_root(config)
    if root is not None and not _is_empty_dir(root):
        raise Conflict(f"{root} holds files: restore into an empty data directory")


def _place_database(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, target)


async def _import_postgresql(url: str, database: Path, report: Reporter | None) -> Tally:
    source = SQLiteTables(database, writable=False)
    target = open_tables(url, data_dir=database.parent, writable=True)
    await source.open()
    try:
        await target.open()
        try:
            if await target.progress() is None and not await target.is_empty():
                raise Conflict(
                    f"the PostgreSQL store at {target.where} holds data: restore into an empty one"
                )
            await copy_tables(source, target, report=report)
            await target.forget_progress()
            return await target.tally()
        finally:
            await target.close()
    finally:
        await source.close()


def _place_files(config: HomerConfig, path: Path, manifest: Manifest) -> None:
    """The key files and blobs the manifest lists (checked already), in place."""
    listed = {entry.path for entry in manifest.files}
    for name, location in _key_files(config).items():
        if name in listed:
            _place(path / name, location)
    root = _blob_root(config)
    for entry in sorted(listed):
        if entry.startswith(f"{FILES}/") and root is not None:
            _place(path / entry, root / entry.removeprefix(f"{FILES}/"))


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)
