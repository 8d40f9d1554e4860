"""The hub without a network: recording sinks stand in for connections."""

from __future__ import annotations

from homer.messaging.hub import Hub, Outgoing
from homer.protocol.envelope import Envelope


class Recorder:
    def __init__(self) -> None:
        self.writes: list[list[int]] = []

    def push(self, out: Outgoing) -> None:
        self.writes.append([out.envelope.seq or 0])

    def push_many(self, outs: list[Outgoing]) -> None:
        self.writes.append([out.envelope.seq or 0 for out in outs])

    def send(self, envelope: Envelope) -> None:
        self.writes.append([envelope.seq or 0])


class Counting:
    """A wire format that counts how often it renders."""

    def __init__(self) -> None:
        self.renders = 0

    def render(self, envelope: Envelope) -> bytes:
        self.renders += 1
        return b"x"


def msg(seq: int) -> Envelope:
    return Envelope(op="msg", room="r", seq=seq)


def test_an_event_is_rendered_once_per_format_whatever_the_audience() -> None:
    out = Outgoing(msg(1))
    json_fmt, other_fmt = Counting(), Counting()
    for _ in range(1000):
        out.render(json_fmt)
        out.render(other_fmt)
    assert (json_fmt.renders, other_fmt.renders) == (1, 1)


def test_two_formats_in_one_room_render_each_event_once_each() -> None:
    """Members speaking two codecs: each event is rendered once per codec, whether it
    is pushed alone or in a batch, and every member gets its codec's bytes."""

    class Speaking:
        def __init__(self, fmt: Counting) -> None:
            self.fmt = fmt
            self.writes = 0

        def push(self, out: Outgoing) -> None:
            out.render(self.fmt)
            self.writes += 1

        def push_many(self, outs: list[Outgoing]) -> None:
            for out in outs:
                out.render(self.fmt)
            self.writes += 1

    json_fmt, msgpack_fmt = Counting(), Counting()
    members = [Speaking(json_fmt if i % 2 else msgpack_fmt) for i in range(100)]
    hub = Hub()
    for member in members:
        hub.subscribe("r", member)
    hub.to_room("r", msg(1))
    assert (json_fmt.renders, msgpack_fmt.renders) == (1, 1)
    with hub.batched():
        hub.to_room("r", msg(2))
        hub.to_room("r", msg(3))
    assert (json_fmt.renders, msgpack_fmt.renders) == (3, 3)
    assert {member.writes for member in members} == {2}


def test_delivery_in_order_without_duplicates() -> None:
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("r", a)
    hub.subscribe("r", b)
    for seq in (1, 2, 2, 1, 3):
        hub.to_room("r", msg(seq))
    assert a.writes == b.writes == [[1], [2], [3]]


def test_a_batch_is_one_write_per_member() -> None:
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("r", a)
    hub.subscribe("r", b)
    hub.begin_batch()
    for seq in range(1, 6):
        hub.to_room("r", msg(seq))
    assert a.writes == []
    hub.end_batch()
    assert a.writes == b.writes == [[1, 2, 3, 4, 5]]


def test_held_events_wait_for_the_backlog_and_skip_what_it_covered() -> None:
    hub = Hub()
    catching_up, live = Recorder(), Recorder()
    hub.subscribe("r", live)
    hub.hold("r", catching_up)
    hub.subscribe("r", catching_up)
    for seq in (1, 2, 3):
        hub.to_room("r", msg(seq))
    assert catching_up.writes == []
    hub.replay("r", catching_up, [msg(1), msg(2)])  # the backlog, up to 2
    hub.release("r", catching_up)
    assert catching_up.writes == [[1], [2], [3]]
    assert live.writes == [[1], [2], [3]]


def test_nothing_at_or_below_a_connections_cursor_goes_out_again() -> None:
    """Whatever brings an event (live, replay, parked, read from the store), a
    connection gets each seq once, in order."""
    hub = Hub()
    resumed, other = Recorder(), Recorder()
    hub.subscribe("r", other)
    hub.hold("r", resumed)
    hub.subscribe("r", resumed)
    hub.to_room("r", msg(5))  # live, held
    hub.move_cursor("r", resumed, 3)  # the client's position
    hub.replay("r", resumed, [msg(2), msg(3), msg(4), msg(5), msg(6)])  # the backlog
    hub.release("r", resumed)  # 5 was replayed: not again
    hub.to_room("r", msg(6))  # 6 too, though the room delivers it only now
    hub.to_room("r", msg(7))
    assert flat(resumed) == [4, 5, 6, 7]
    assert flat(other) == [5, 6, 7]
    hub.move_cursor("r", resumed, 1)  # a cursor never moves back
    assert hub.cursor("r", resumed) == 7


def test_a_connection_held_while_live_keeps_its_cursor() -> None:
    """A ``resume`` on a live connection: the room moves on while it is held, and
    what it was not sent yet still reaches it, once."""
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("r", a)
    hub.subscribe("r", b)
    hub.to_room("r", msg(1))
    hub.hold("r", a)
    hub.to_room("r", msg(2))
    hub.to_room("r", msg(3))
    assert hub.cursor("r", a) == 1
    hub.replay("r", a, [msg(1), msg(2)])
    hub.release("r", a)
    hub.to_room("r", msg(4))
    assert flat(a) == flat(b) == [1, 2, 3, 4]


def test_a_second_hold_keeps_what_the_first_holds() -> None:
    """A ``resume`` while another catch-up of the room runs: nothing goes live until
    both are done, and nothing held is lost."""
    hub = Hub()
    a = Recorder()
    hub.hold("r", a)
    hub.subscribe("r", a)
    hub.to_room("r", msg(1))
    hub.hold("r", a)
    hub.to_room("r", msg(2))
    hub.release("r", a)
    assert a.writes == []
    hub.release("r", a)
    assert flat(a) == [1, 2]


def test_a_replay_inside_a_batch_keeps_its_place() -> None:
    hub = Hub()
    a = Recorder()
    hub.subscribe("r", a)
    with hub.batched():
        hub.to_room("r", msg(1))
        hub.replay("r", a, [msg(1), msg(2)])
        hub.to_room("r", msg(2))
    assert a.writes == [[1, 2]]


def test_keys_are_bound_on_first_and_unbound_on_last() -> None:
    events: list[str] = []
    hub = Hub(on_first=lambda k: events.append(f"+{k}"), on_last=lambda k: events.append(f"-{k}"))
    a, b = Recorder(), Recorder()
    hub.subscribe("r", a)
    hub.subscribe("r", b)
    hub.attach_user("u", a)
    hub.unsubscribe("r", a)
    hub.unsubscribe("r", b)
    hub.detach_user("u", a)
    assert events == ["+room.r", "+user.u", "-room.r", "-user.u"]


def flat(sink: Recorder) -> list[int]:
    return [seq for write in sink.writes for seq in write]


def test_an_event_past_a_gap_waits_for_the_missing_one() -> None:
    gaps: list[str] = []
    hub = Hub(on_gap=gaps.append)
    a = Recorder()
    hub.subscribe("r", a)
    for seq in (1, 4, 3, 5, 2, 3, 6):
        hub.to_room("r", msg(seq))
    assert flat(a) == [1, 2, 3, 4, 5, 6]
    assert gaps == ["r"], "one report per gap, not per parked event"
    assert hub.gap("r") is None


def test_a_seeded_room_reports_a_gap_before_its_first_event() -> None:
    gaps: list[str] = []
    hub = Hub(on_gap=gaps.append)
    a = Recorder()
    hub.subscribe("r", a)
    hub.seed("r", 10)
    hub.to_room("r", msg(13))
    assert flat(a) == []
    assert gaps == ["r"]
    assert hub.gap("r") == (10, 13)
    hub.to_room("r", msg(11))  # what the node reads from the store goes the same way
    hub.to_room("r", msg(12))
    assert flat(a) == [11, 12, 13]
    hub.seed("r", 5)  # already following: a stale snapshot changes nothing
    hub.to_room("r", msg(14))
    assert flat(a) == [11, 12, 13, 14]


def test_a_gap_that_cannot_be_filled_is_skipped_in_order() -> None:
    hub = Hub()
    a = Recorder()
    hub.subscribe("r", a)
    hub.to_room("r", msg(1))
    hub.to_room("r", msg(5))
    hub.to_room("r", msg(4))
    hub.skip_gap("r")
    assert flat(a) == [1, 4, 5]
    assert hub.gap("r") is None


def test_leaving_a_room_forgets_what_was_parked() -> None:
    hub = Hub()
    a = Recorder()
    hub.subscribe("r", a)
    hub.to_room("r", msg(1))
    hub.to_room("r", msg(3))
    hub.unsubscribe("r", a)
    assert hub.gap("r") is None
    hub.subscribe("r", a)
    hub.to_room("r", msg(7))  # a new follower starts from what comes
    assert flat(a) == [1, 7]
