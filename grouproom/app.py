"""The aiohttp application: routes, shared objects (AppKeys) and shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from grouproom.data_dir import ensure_data_dir, load_or_create_secret
from grouproom.http.pages import Pages
from grouproom.http.security_headers import add_security_headers
from grouproom.http.therapist_pages import TherapistPages
from grouproom.media import udp_mux
from grouproom.media.contract import MediaRoom
from grouproom.metrics import ServerMetrics, serve_metrics
from grouproom.rooms.registry import RoomRegistry
from grouproom.settings import Settings
from grouproom.signaling.login_watch import LOGIN_CHECK_INTERVAL
from grouproom.signaling.session_hub import SessionHub
from grouproom.signaling.switchboard import Switchboard
from grouproom.signaling.websocket_handler import IDLE_TIMEOUT, WebSocketHandler
from grouproom.store.retention import (
    RETENTION_INTERVAL,
    apply_retention,
    keep_applying_retention,
)
from grouproom.store.store import Store
from grouproom.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

settings_key = web.AppKey("settings", Settings)
registry_key = web.AppKey("room_registry", RoomRegistry)
switchboard_key = web.AppKey("switchboard", Switchboard)
store_key = web.AppKey("store", Store)
hub_key = web.AppKey("session_hub", SessionHub)
# The UDP ports this process's media uses (udp_mux), known once it started.
media_ports_key = web.AppKey("media_ports", list)


async def _say_goodbye(app: web.Application) -> None:
    """on_shutdown: runs before aiohttp waits for open requests, so the sockets
    get `closing` {cause: shutdown} and end instead of holding the shutdown up."""
    await app[switchboard_key].shutdown()


async def _close_rooms(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: whatever happens, every forwarder is closed at the end."""
    yield
    await app[switchboard_key].shutdown()


async def _media_port(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the media port is opened at start-up (a port in use stops
    the server with a clear message, not the first participant) and held until the
    end; this process's rooms share it. Room worker processes open their own."""
    media = app[switchboard_key].media_settings
    mux = udp_mux.acquire(media.ice_addresses, media.media_port, media.media_bind_address)
    await mux.start()  # read from now on, whether or not this process forwards
    app[media_ports_key] = mux.ports
    yield
    await udp_mux.release(mux)


async def _metrics_site(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]

    def rooms() -> dict[str, list[MediaRoom]]:
        live = app[hub_key].live.values()
        return {
            "room": list(app[switchboard_key].forwarders.values()),
            "session": [session.forwarder for session in live],
        }

    def participants() -> int:
        in_rooms = sum(len(room.participants) for room in app[registry_key])
        return in_rooms + sum(len(session.outboxes) for session in app[hub_key].live.values())

    metrics = ServerMetrics(rooms, participants)
    async for _ in serve_metrics(metrics, settings.metrics_host, settings.metrics_port):
        yield


async def open_storage(settings: Settings) -> tuple[Store, bytes]:
    """The data folder (created on first start), its secret key, and the database
    with its schema brought up to date."""
    folder = ensure_data_dir(settings.data_dir)
    secret = load_or_create_secret(folder)
    return await Store.open(settings.effective_database_url), secret


def create_app(
    settings: Settings,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    login_check_interval: float = LOGIN_CHECK_INTERVAL,
    retention_interval: float = RETENTION_INTERVAL,
    store: Store | None = None,
    secret: bytes | None = None,
    on_ready: Callable[[Store, bytes], Awaitable[None]] | None = None,
) -> web.Application:
    """The application. Without a store and secret it opens its own (open_storage)
    at start-up and closes it at the end."""
    app = web.Application()
    registry = RoomRegistry(capacity=settings.max_participants)
    switchboard = Switchboard(settings, registry)
    app[settings_key] = settings
    app[registry_key] = registry
    app[switchboard_key] = switchboard

    pages = Pages(settings.web_root, settings.open_rooms)
    app.router.add_get("/", pages.index)
    app.router.add_get("/r/{room}", pages.room)
    app.router.add_get("/healthz", pages.healthz)
    app.router.add_get("/join/{token}", pages.session)
    websocket = WebSocketHandler(switchboard, idle_timeout, login_check_interval)
    app.router.add_get("/ws", websocket.handle)
    if Path(settings.web_root).is_dir():
        app.router.add_static("/static/", settings.web_root)
    else:
        logger.warning("the web client folder %s does not exist", settings.web_root)

    therapist_pages = TherapistPages(settings)
    therapist_pages.add_routes(app.router)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        own = store is None or secret is None
        if own:
            opened, key = await open_storage(settings)
        else:
            assert store is not None and secret is not None
            opened, key = store, secret
        app[store_key] = opened
        await therapist_pages.attach(opened, key)
        hub = SessionHub(settings, switchboard.media_settings, opened, key)
        app[hub_key] = hub
        websocket.hub = hub
        therapist_pages.session_closed = hub.end_from_page
        therapist_pages.logins_ended = websocket.check_logins_of
        therapist_pages.early_arrivals = hub.early_arrivals
        if on_ready is not None:
            await on_ready(opened, key)
        await hub.resume()
        yield
        await hub.shutdown()
        if own:
            await opened.close()

    async def retention(app: web.Application) -> AsyncIterator[None]:
        """Old attendance and acceptances go at start-up, then every interval."""
        store = app[store_key]
        await apply_retention(store, settings.retention_days, datetime.now(UTC))
        task = asyncio.create_task(
            keep_applying_retention(store, settings.retention_days, retention_interval)
        )
        yield
        await cancel_and_wait(task)

    app.cleanup_ctx.append(_media_port)
    app.cleanup_ctx.append(storage)
    app.cleanup_ctx.append(retention)
    if settings.metrics_port:
        app.cleanup_ctx.append(_metrics_site)
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(_say_goodbye)
    app.cleanup_ctx.append(_close_rooms)
    return app
