"""Admin commands for users, groups, tokens and the audit log.

Each command opens the store named by the configuration, acts as ``system``
(the audit log records it so), and closes it again.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from homer.config import HomerConfig, load_config
from homer.errors import HomerError, InvalidToken
from homer.identity.accounts import User
from homer.identity.permissions import SYSTEM
from homer.identity.service import Identity

__all__ = ["audit", "group", "permissions", "token", "user"]

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_EXPIRED = 3
EXIT_INVALID_TOKEN = 4


# -- plumbing -------------------------------------------------------------------


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--config`` on every command, passed on as ``config``."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where Homer keeps its data [default: ./homer-data].",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="HOMER_CONFIG",
        help="A TOML configuration file.",
    )
    @functools.wraps(fn)
    def wrapper(data_dir: Path | None, config_file: Path | None, **kwargs: Any) -> Any:
        try:
            config = load_config(
                config_file, overrides={"data_dir": str(data_dir) if data_dir else None}
            )
        except HomerError as exc:
            fail(exc.message)
        return fn(config=config, **kwargs)

    return wrapper


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    click.echo(f"homer: error: {message}", err=True)
    sys.exit(code)


def run(config: HomerConfig, action: Callable[[Identity], Awaitable[T]]) -> T:
    """Open the identity layer, run ``action``, close it; a refusal exits 1 with its reason."""
    try:
        return run_raw(config, action)
    except HomerError as exc:
        fail(exc.message)


def run_raw(config: HomerConfig, action: Callable[[Identity], Awaitable[T]]) -> T:
    """Like :func:`run`, but lets errors through for commands with their own exit codes."""

    async def go() -> T:
        identity = await Identity.open(config)
        try:
            return await action(identity)
        finally:
            await identity.close()

    return asyncio.run(go())


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to prompt for a password: use --password-stdin")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def parse_assignments(pairs: Iterable[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; VALUE is JSON when it parses as JSON, plain text otherwise."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=flag)
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


def user_view(identity: Identity, user: User) -> dict[str, Any]:
    group_record = identity.authorizer.group(user.group_id)
    return {
        "id": user.id,
        "name": user.name,
        "group": group_record.name if group_record else user.group_id,
        "attributes": dict(user.attributes),
        "grants": sorted(user.grants),
        "denies": sorted(user.denies),
        "permissions": sorted(identity.authorizer.effective(user)),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


# -- users ----------------------------------------------------------------------


@click.group()
def user() -> None:
    """Create, inspect, change and delete users."""


@user.command("add")
@click.argument("name")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="An attribute (repeat).")
@click.option(
    "--group", "group_name", metavar="G", help="The user's group [default: the default group]."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@common_options
def user_add(
    config: HomerConfig,
    name: str,
    attrs: tuple[str, ...],
    group_name: str | None,
    password_stdin: bool,
) -> None:
    """Create user NAME. The password is prompted for, or read with --password-stdin.

    VALUE is read as JSON when it is valid JSON (42, true, "quoted"), as text otherwise.
    """
    attributes = parse_assignments(attrs, "--attr")
    password = read_password(password_stdin)

    async def act(identity: Identity) -> User:
        return await identity.accounts.create(SYSTEM, name, password, attributes, group=group_name)

    created = run(config, act)
    click.echo(f"created user {created.name} ({created.id})")


@user.command("list")
@click.option("--search", help="Only names containing this text.")
@click.option("--group", "group_name", help="Only members of this group.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--after", help="Continue after this cursor (printed when there is more).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@common_options
def user_list(
    config: HomerConfig,
    search: str | None,
    group_name: str | None,
    limit: int,
    after: str | None,
    as_json: bool,
) -> None:
    """List users by name."""

    async def act(identity: Identity) -> tuple[list[dict[str, Any]], str | None]:
        page = await identity.accounts.list(
            SYSTEM, search=search, group=group_name, after=after, limit=limit
        )
        return [user_view(identity, u) for u in page.items], page.next_cursor

    users, cursor = run(config, act)
    if as_json:
        echo_json({"users": users, "next": cursor})
        return
    table([(u["name"], u["group"], u["created_at"]) for u in users], ("NAME", "GROUP", "CREATED"))
    if cursor:
        click.echo(f"(more: --after {cursor})", err=True)


@user.command("show")
@click.argument("name")
@common_options
def user_show(config: HomerConfig, name: str) -> None:
    """Print user NAME as JSON, with effective permissions."""

    async def act(identity: Identity) -> dict[str, Any]:
        return user_view(identity, await identity.accounts.get(name))

    echo_json(run(config, act))


@user.command("set")
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@common_options
def user_set(config: HomerConfig, name: str, assignments: tuple[str, ...]) -> None:
    """Change attributes of user NAME (VALUE null removes an optional one)."""
    changes = parse_assignments(assignments, "KEY=VALUE")

    async def act(identity: Identity) -> User:
        return await identity.accounts.update(SYSTEM, name, changes)

    updated = run(config, act)
    click.echo(f"updated user {updated.name}: {', '.join(sorted(changes))}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@common_options
def user_passwd(config: HomerConfig, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME; their tokens are revoked."""
    password = read_password(password_stdin)

    async def act(identity: Identity) -> None:
        await identity.accounts.set_password(SYSTEM, name, password)

    run(config, act)
    click.echo(f"password of {name} changed; their tokens are revoked")


@user.command("rename")
@click.argument("name")
@click.argument("new_name")
@common_options
def user_rename(config: HomerConfig, name: str, new_name: str) -> None:
    """Rename user NAME to NEW_NAME (the id stays)."""

    async def act(identity: Identity) -> User:
        return await identity.accounts.rename(SYSTEM, name, new_name)

    renamed = run(config, act)
    click.echo(f"renamed {name} to {renamed.name}")


@user.command("del")
@click.argument("name")
@common_options
def user_del(config: HomerConfig, name: str) -> None:
    """Delete user NAME and revoke their tokens (the audit log keeps their trace)."""

    async def act(identity: Identity) -> None:
        await identity.accounts.delete(SYSTEM, name)

    run(config, act)
    click.echo(f"deleted user {name}")


@user.command("grant")
@click.argument("name")
@click.argument("perm")
@common_options
def user_grant(config: HomerConfig, name: str, perm: str) -> None:
    """Give user NAME permission PERM beyond their group's."""

    async def act(identity: Identity) -> User:
        return await identity.accounts.grant(SYSTEM, name, perm)

    run(config, act)
    click.echo(f"granted {perm} to user {name}")


@user.command("revoke")
@click.argument("name")
@click.argument("perm")
@common_options
def user_revoke(config: HomerConfig, name: str, perm: str) -> None:
    """Deny user NAME permission PERM, even if their group has it."""

    async def act(identity: Identity) -> User:
        return await identity.accounts.revoke(SYSTEM, name, perm)

    run(config, act)
    click.echo(f"revoked {perm} from user {name}")


@user.command("reset")
@click.argument("name")
@common_options
def user_reset(config: HomerConfig, name: str) -> None:
    """Drop user NAME's own grants and denials: their group's permissions again."""

    async def act(identity: Identity) -> User:
        return await identity.accounts.reset_permissions(SYSTEM, name)

    run(config, act)
    click.echo(f"user {name} has their group's permissions again")


@user.command("group")
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@common_options
def user_group(config: HomerConfig, name: str, group_name: str) -> None:
    """Move user NAME to GROUP."""

    async def act(identity: Identity) -> User:
        return await identity.accounts.set_group(SYSTEM, name, group_name)

    run(config, act)
    click.echo(f"user {name} is now in group {group_name}")


# -- groups ---------------------------------------------------------------------


@click.group()
def group() -> None:
    """Create and change groups and the permissions they hold."""


@group.command("add")
@click.argument("name")
@click.option("--perm", "perms", multiple=True, metavar="P", help="A permission (repeat).")
@click.option("--parent", help="A group this one inherits permissions from.")
@common_options
def group_add(config: HomerConfig, name: str, perms: tuple[str, ...], parent: str | None) -> None:
    """Create group NAME."""

    async def act(identity: Identity) -> None:
        await identity.groups.create(SYSTEM, name, perms, parent=parent)

    run(config, act)
    click.echo(f"created group {name}")


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@common_options
def group_list(config: HomerConfig, as_json: bool) -> None:
    """List groups with their permissions (inherited ones included)."""

    async def act(identity: Identity) -> list[dict[str, Any]]:
        default = identity.groups.default_group
        return [
            {
                "name": g.name,
                "parent": g.parent,
                "default": g.name == default,
                "permissions": sorted(g.permissions),
                "effective": sorted(g.effective),
                "members": await identity.store.count_members(g.id),
            }
            for g in await identity.groups.list()
        ]

    groups = run(config, act)
    if as_json:
        echo_json(groups)
        return
    table(
        [
            (
                g["name"] + (" (default)" if g["default"] else ""),
                g["parent"] or "-",
                str(g["members"]),
                " ".join(g["effective"]) or "-",
            )
            for g in groups
        ],
        ("NAME", "PARENT", "MEMBERS", "PERMISSIONS"),
    )


@group.command("grant")
@click.argument("name")
@click.argument("perm")
@common_options
def group_grant(config: HomerConfig, name: str, perm: str) -> None:
    """Give group NAME permission PERM."""

    async def act(identity: Identity) -> None:
        await identity.groups.grant(SYSTEM, name, perm)

    run(config, act)
    click.echo(f"granted {perm} to group {name}")


@group.command("revoke")
@click.argument("name")
@click.argument("perm")
@common_options
def group_revoke(config: HomerConfig, name: str, perm: str) -> None:
    """Take permission PERM from group NAME."""

    async def act(identity: Identity) -> None:
        await identity.groups.revoke(SYSTEM, name, perm)

    run(config, act)
    click.echo(f"revoked {perm} from group {name}")


@group.command("rename")
@click.argument("name")
@click.argument("new_name")
@common_options
def group_rename(config: HomerConfig, name: str, new_name: str) -> None:
    """Rename group NAME (renaming the default group also needs the configuration changed)."""

    async def act(identity: Identity) -> None:
        await identity.groups.rename(SYSTEM, name, new_name)

    run(config, act)
    click.echo(f"renamed group {name} to {new_name}")


@group.command("del")
@click.argument("name")
@common_options
def group_del(config: HomerConfig, name: str) -> None:
    """Delete group NAME; its members move to its parent, or to the default group."""

    async def act(identity: Identity) -> int:
        return await identity.groups.delete(SYSTEM, name)

    moved = run(config, act)
    click.echo(f"deleted group {name}; {moved} member(s) moved")


@click.command()
@common_options
def permissions(config: HomerConfig) -> None:
    """List the permission names that can be granted."""

    async def act(identity: Identity) -> dict[str, str]:
        return identity.authorizer.permissions.describe()

    table(sorted(run(config, act).items()), ("PERMISSION", "MEANING"))


# -- tokens ---------------------------------------------------------------------


@click.group()
def token() -> None:
    """Issue, check and revoke access tokens."""


@token.command("issue")
@click.argument("name")
@click.option(
    "--ttl",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Lifetime; 0 for a token that never expires [default: tokens.ttl, 1800].",
)
@common_options
def token_issue(config: HomerConfig, name: str, ttl: float | None) -> None:
    """Print a token for user NAME."""

    async def act(identity: Identity) -> str:
        found = await identity.accounts.get(name)
        if ttl is None:
            return identity.tokens.issue(found.token_info())
        return identity.tokens.issue(found.token_info(), ttl=ttl or None)

    click.echo(run(config, act))


@token.command("check")
@click.argument("token_text", metavar="TOKEN")
@common_options
def token_check(config: HomerConfig, token_text: str) -> None:
    """Print the claims of TOKEN as JSON. Exit 0 valid, 3 expired, 4 invalid."""

    async def act(identity: Identity) -> dict[str, Any] | None:
        return identity.tokens.check(token_text)

    try:
        claims = run_raw(config, act)
    except InvalidToken as exc:
        fail(f"invalid token: {exc.message}", EXIT_INVALID_TOKEN)
    except HomerError as exc:
        fail(exc.message)
    if claims is None:
        fail("token expired", EXIT_EXPIRED)
    echo_json(claims)


@token.command("revoke")
@click.argument("token_text", metavar="TOKEN")
@common_options
def token_revoke(config: HomerConfig, token_text: str) -> None:
    """Revoke one token."""

    async def act(identity: Identity) -> None:
        await identity.tokens.revoke(token_text)

    run(config, act)
    click.echo("token revoked")


@token.command("revoke-all")
@click.argument("name")
@common_options
def token_revoke_all(config: HomerConfig, name: str) -> None:
    """Revoke every token user NAME holds now."""

    async def act(identity: Identity) -> None:
        found = await identity.accounts.get(name)
        await identity.tokens.revoke_user(found.id)

    run(config, act)
    click.echo(f"every token of {name} is revoked")


# -- audit ----------------------------------------------------------------------


@click.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--before", type=int, help="Only entries older than this id (paging).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@common_options
def audit(config: HomerConfig, limit: int, before: int | None, as_json: bool) -> None:
    """Print the audit log of changes to users, groups and permissions, newest first."""

    async def act(identity: Identity) -> tuple[list[dict[str, Any]], str | None]:
        page = await identity.audit.entries(SYSTEM, before=before, limit=limit)
        entries = [
            {
                "id": e.id,
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": dict(e.detail),
            }
            for e in page.items
        ]
        return entries, page.next_cursor

    entries, cursor = run(config, act)
    if as_json:
        echo_json({"entries": entries, "next": cursor})
        return
    table(
        [
            (str(e["id"]), e["at"], e["actor"], e["action"], e["target"], json.dumps(e["detail"]))
            for e in entries
        ],
        ("ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"),
    )
    if cursor:
        click.echo(f"(more: --before {cursor})", err=True)
