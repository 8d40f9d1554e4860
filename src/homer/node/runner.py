"""Running a node: listen, serve until SIGINT or SIGTERM, shut down cleanly.

Shutdown order: stop accepting, finish the durable writes in flight, tell
every session it is going away (close code 1001, "reconnect and resume"),
close the store. The process then exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from homer.core.app import Homer
from homer.errors import InvalidInput
from homer.transports.front import FrontProtocol
from homer.transports.irc import IrcServer
from homer.transports.mqtt import MqttPeer
from homer.transports.mqtt_server import MqttServer
from homer.transports.site import build_http_app, load_web_client
from homer.transports.tcp import TCPPeer

__all__ = ["RunningServer", "serve", "start_server"]


@dataclass
class RunningServer:
    app: Homer
    server: asyncio.Server
    runner: web.AppRunner
    host: str
    port: int
    #: The raw TCP listener and its port, when one was asked for.
    tcp_server: asyncio.Server | None = None
    tcp_port: int | None = None
    #: The IRC listeners and their ports (plain text, and TLS), when asked for.
    irc_servers: list[asyncio.Server] = field(default_factory=list)
    irc_port: int | None = None
    ircs_port: int | None = None
    #: The MQTT listeners and their ports (plain text, and TLS), when asked for.
    mqtt_servers: list[asyncio.Server] = field(default_factory=list)
    mqtt_port: int | None = None
    mqtts_port: int | None = None
    #: What the MQTT connections share (sessions, shared subscriptions).
    mqtt: MqttServer | None = None
    #: Whether the listeners speak TLS.
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws"

    async def stop(self) -> None:
        self.server.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
        for listener in (*self.irc_servers, *self.mqtt_servers):
            listener.close()
        await self.app.stop()
        await self.runner.cleanup()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 5.0)


async def start_server(
    app: Homer,
    *,
    host: str | None = None,
    port: int | None = None,
    tcp_port: int | None = None,
    irc_port: int | None = None,
    ircs_port: int | None = None,
    mqtt_port: int | None = None,
    mqtts_port: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> RunningServer:
    """Start ``app`` and listen; ``port=0`` picks a free port (tests). Raw TCP
    listens too when ``tcp_port`` (or ``server.tcp_port``) is set, IRC when
    ``irc_port`` or ``ircs_port`` (or their settings) are: the first in plain
    text, the second over TLS with the server's certificate; MQTT likewise with
    ``mqtt_port`` and ``mqtts_port``."""
    config = app.config.server
    irc_port = irc_port if irc_port is not None else config.irc_port
    ircs_port = ircs_port if ircs_port is not None else config.ircs_port
    mqtt_port = mqtt_port if mqtt_port is not None else config.mqtt_port
    mqtts_port = mqtts_port if mqtts_port is not None else config.mqtts_port
    configured = bool(config.tls_cert or config.tls_key)
    # TLS for every listener when given or configured; IRC or MQTT over TLS alone
    # asks for the certificate too, and the other listeners stay plain then.
    main_ssl = ssl_context
    if ssl_context is None and (configured or ircs_port is not None or mqtts_port is not None):
        ssl_context = await asyncio.to_thread(tls_context, app)
        main_ssl = ssl_context if configured else None
    await app.start()
    runner: web.AppRunner | None = None
    tcp_server: asyncio.Server | None = None
    irc_servers: list[asyncio.Server] = []
    mqtt_servers: list[asyncio.Server] = []
    mqtt = MqttServer(app)
    tcp_port = tcp_port if tcp_port is not None else config.tcp_port
    handshake = app.config.limits.handshake_timeout
    try:
        page = await asyncio.to_thread(load_web_client) if config.web_client else None
        runner = web.AppRunner(
            build_http_app(app, page),
            handle_signals=False,
            access_log=None,
            # A kept-alive connection waits this long for its next request head,
            # finished or not: a slow second head is cut like a slow first one.
            keepalive_timeout=handshake,
        )
        await runner.setup()
        http_factory: Callable[[], asyncio.Protocol] = runner.server  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        bind = host if host is not None else config.host

        async def listen(
            factory: Callable[[], asyncio.BaseProtocol], at: int, tls: ssl.SSLContext | None
        ) -> asyncio.Server:
            return await loop.create_server(
                factory,
                host=bind,
                port=at,
                ssl=tls,
                ssl_handshake_timeout=handshake if tls is not None else None,
                reuse_address=True,
                backlog=4096,
            )

        server = await listen(
            lambda: FrontProtocol(app, http_factory),
            port if port is not None else config.port,
            main_ssl,
        )
        if tcp_port is not None:
            tcp_server = await listen(lambda: TCPPeer(app), tcp_port, main_ssl)
        irc = IrcServer(app)
        for irc_listen, irc_ssl in ((irc_port, None), (ircs_port, ssl_context)):
            if irc_listen is not None:
                irc_servers.append(await listen(irc, irc_listen, irc_ssl))
        for mqtt_listen, mqtt_ssl in ((mqtt_port, None), (mqtts_port, ssl_context)):
            if mqtt_listen is not None:
                mqtt_servers.append(await listen(lambda: MqttPeer(mqtt), mqtt_listen, mqtt_ssl))
    except BaseException:  # cannot listen: leave nothing open behind
        for listener in (*irc_servers, *mqtt_servers):
            listener.close()
        if tcp_server is not None:
            tcp_server.close()
        if runner is not None:
            await runner.cleanup()
        await app.stop()
        raise
    bound = server.sockets[0].getsockname()
    running = RunningServer(app, server, runner, str(bound[0]), int(bound[1]))
    running.tls = main_ssl is not None
    running.irc_servers = irc_servers
    ports = iter(int(listener.sockets[0].getsockname()[1]) for listener in irc_servers)
    running.irc_port = next(ports) if irc_port is not None else None
    running.ircs_port = next(ports) if ircs_port is not None else None
    running.mqtt_servers, running.mqtt = mqtt_servers, mqtt
    ports = iter(int(listener.sockets[0].getsockname()[1]) for listener in mqtt_servers)
    running.mqtt_port = next(ports) if mqtt_port is not None else None
    running.mqtts_port = next(ports) if mqtts_port is not None else None
    if tcp_server is not None:
        running.tcp_server = tcp_server
        running.tcp_port = int(tcp_server.sockets[0].getsockname()[1])
    return running


def tls_context(app: Homer) -> ssl.SSLContext:
    """The server's TLS context from ``server.tls_cert`` and ``server.tls_key``
    (TLS 1.2 or later); a clear error when they are missing or do not match."""
    config = app.config
    cert, key = config.server.tls_cert, config.server.tls_key
    if not cert or not key:
        raise InvalidInput("TLS needs both server.tls_cert and server.tls_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.under_data_dir(cert), config.under_data_dir(key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from exc
    return context


async def serve(app: Homer, *, announce: Callable[[str], None] = print) -> None:
    """Serve until SIGINT or SIGTERM, then shut down as the module says."""
    running = await start_server(app)
    # What start-up made (modules, classes, tables) lives as long as the process:
    # out of the collector's sight, a full collection walks only what serving made,
    # so its pauses (the p99 of a busy node) shrink by that much.
    gc.collect()
    gc.freeze()
    # Messages in flight (a burst: thousands of futures, records and envelopes at
    # once) outlived the default young generation (700 allocations) and reached
    # the oldest, whose collections then paused the loop for 20-35 ms, several
    # times a burst. With these thresholds they die young: on 500 rooms of two
    # at full speed, CPU per message 59.7 -> 52.7 us, time in the collector per
    # 30,000 messages 272 -> 138 ms, the longest pause 27 -> 13 ms.
    gc.set_threshold(3000, 20, 100)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tcp = f", raw TCP on {running.host}:{running.tcp_port}" if running.tcp_port else ""
    if running.irc_port:
        tcp += f", IRC on {running.host}:{running.irc_port}"
    if running.ircs_port:
        tcp += f", IRC over TLS on {running.host}:{running.ircs_port}"
    if running.mqtt_port:
        tcp += f", MQTT on {running.host}:{running.mqtt_port}"
    if running.mqtts_port:
        tcp += f", MQTT over TLS on {running.host}:{running.mqtts_port}"
    announce(
        f"Homer listening on {running.url} (web client at {running.url}/, "
        f"WebSocket at {running.ws_url}{tcp}); data in {app.config.data_dir}"
    )
    try:
        await stop.wait()
    finally:
        announce("Homer shutting down: finishing writes, closing sessions")
        await running.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
