"""Carrying out what the user typed in ``homer chat``: a message, or a command
(:mod:`homer.chat.commands` parses them; this runs them against the server)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from homer.chat import commands
from homer.chat.formatting import ACTION, KEYS_HELP, envelopes, local_zone, message_text
from homer.chat.rooms import Room
from homer.client import HomerClient

if TYPE_CHECKING:
    from homer.chat.app import ChatApp

__all__ = ["carry_out"]


async def carry_out(app: ChatApp, text: str) -> None:
    """Carry out what the user typed: a message, or a command."""
    command = commands.parse(text, now=app.clock(), tz=app.tz or local_zone())
    client = app.client
    if isinstance(command, commands.Quit):
        app.exit()
        return
    if isinstance(command, commands.Help):
        await show_help(app)
        return
    if client is None:
        raise commands.CommandError("not connected yet")
    offline = client.keeper is not None and client.transport is None
    if offline and not isinstance(command, commands.Say | commands.Me):
        # Messages go into the outbox; a question for the server would wait unseen.
        raise commands.CommandError(f"{text.split()[0]} needs the server, and it is offline now")
    match command:
        case commands.Join(room):
            info = await client.join(room)
            app.rooms.add(info)
            await app.open_room(info["id"])
        case commands.Create(room, kind):
            info = await client.create(room, kind)
            app.rooms.add(info)
            await app.open_room(info["id"])
        case commands.Dm(user):
            info = await client.dm(user)
            app.rooms.add(info)
            await app.open_room(info["id"])
        case _:
            await in_room(app, client, command, here(app))


async def say(app: ChatApp, client: HomerClient, room: Room, text: str, data: Any = None) -> None:
    """Send; with kept state, into the outbox (it goes when online, its echo
    shows it) so that nothing waits and nothing is lost offline."""
    if client.keeper is not None:
        await client.post(room.id, text, data)
    else:
        await client.send(room.id, text, data)


def here(app: ChatApp) -> Room:
    room = app.rooms.get(app.current) if app.current else None
    if room is None:
        raise commands.CommandError("not in a room: /join ROOM or /create ROOM first")
    return room


async def in_room(app: ChatApp, client: HomerClient, command: commands.Input, room: Room) -> None:
    match command:
        case commands.Say(text):
            await say(app, client, room, text)
        case commands.Me(action):
            await say(app, client, room, action, data=ACTION)
        case commands.Leave():
            await client.leave(room.id)
            app.rooms.remove(room.id)
            ordered = app.rooms.ordered(app.me)
            await app.open_room(ordered[0].id if ordered else None)
            await app.view.add_notice(f"You left {room.label(app.me)}.")
        case commands.Invite(user):
            await client.request("invite", room=room.id, user=user)
            await app.view.add_notice(f"Invited {user} to {room.label(app.me)}.")
        case commands.Who():
            answer = await client.request("members", room=room.id, limit=500)
            members = ", ".join(
                f"{m['name']} ({m['status']}{', owner' if m['role'] == 'owner' else ''})"
                for m in answer["members"]
            )
            await app.view.add_notice(f"In {room.label(app.me)}: {members}")
        case commands.Topic(text):
            info = await client.request("topic", room=room.id, topic=text)
            room.update(info)
            app.refresh_status()
        case commands.History(since, until):
            await show_window(app, client, room, since, until)


async def show_window(
    app: ChatApp, client: HomerClient, room: Room, since: float, until: float | None
) -> None:
    query: dict[str, Any] = {"since": since, "limit": 500}
    if until is not None:
        query["until"] = until
    answer = await client.request("history", room=room.id, **query)
    found = envelopes(answer)
    zone = app.tz or local_zone()
    end = "now" if until is None else f"{datetime.fromtimestamp(until, zone):%Y-%m-%d %H:%M}"
    start = f"{datetime.fromtimestamp(since, zone):%Y-%m-%d %H:%M}"
    await app.view.add_notice(
        f"── {room.label(app.me)} from {start} to {end}: {len(found)} messages"
        f"{' (the first 500)' if answer.get('more') else ''} ──",
        classes="day",
    )
    for message in found:
        await app.view.add_line(message_text(message, emoticons=app.emoticons, tz=app.tz))
    await app.view.add_notice("── end of the window ──", classes="day")


async def show_help(app: ChatApp) -> None:
    await app.view.add_notice("Commands:")
    for usage, what in commands.HELP.values():
        await app.view.add_notice(f"  {usage}: {what}")
    await app.view.add_notice(KEYS_HELP)
