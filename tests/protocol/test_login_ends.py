"""A therapist's socket lives only as long as her login: logged out elsewhere, her
password changed or her account disabled, the socket in a running session is closed
(with the moderator rights it carried), and while it is open it keeps the login from
idling out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from grouproom.app import create_app
from grouproom.settings import Settings
from tests.protocol.conftest import AiohttpClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_sessions import Group, group_on, open_session
from tests.protocol.test_therapist_pages import (
    NOW,
    OpenBrowser,
    app_client,
    open_browser,
    store_of,
)

__all__ = ["app_client", "open_browser"]  # fixtures used by the tests below

CHECK = 0.2  # seconds between checks of an open socket's login


@pytest.fixture
async def group(aiohttp_client: AiohttpClient, settings: Settings) -> Group:
    app = create_app(settings, login_check_interval=CHECK)
    return await group_on(await aiohttp_client(app), settings)


async def test_a_login_ended_elsewhere_closes_her_socket_in_the_session(group: Group) -> None:
    await open_session(group)
    lea, lea_seat = await group.therapist(group.lead_id)
    cor, _ = await group.therapist(group.co_id)
    await asyncio.sleep(3 * CHECK)  # checks that find the logins valid change nothing
    assert await lea.expect("ping") == {} and await cor.expect("ping") == {}

    await group.store.end_web_sessions_of(group.lead_id)  # a logout everywhere, elsewhere
    assert await lea.closed() == 1008
    assert lea.events[-1]["type"] == "closing"
    assert lea.events[-1]["data"] == {"cause": "logged_out"}
    # Her seat is held as after a lost connection; her cotherapist's socket is untouched.
    reconnecting = (await cor.event("participant_reconnecting"))["data"]
    assert reconnecting["participant_id"] == lea_seat["participant_id"]
    assert await cor.expect("ping") == {}
    # The page cannot take the seat back without logging in again.
    again = await group.socket(group.lead_id)
    assert (await again.error("enter", {"group": group.group_id}))["code"] == "login_required"


async def test_a_disabled_account_loses_its_open_socket(group: Group) -> None:
    await open_session(group)
    cor, _ = await group.therapist(group.co_id)
    await group.store.set_therapist_disabled(group.co_id, datetime.now(UTC))
    assert await cor.closed() == 1008
    assert cor.events[-1]["data"] == {"cause": "logged_out"}


async def test_an_open_socket_keeps_her_login_from_idling_out(group: Group) -> None:
    """The login ends after three hours without use; a session socket is use."""
    lea = await group.socket(group.lead_id)

    async def last_seen() -> list[datetime]:
        async with group.store.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT last_seen_at FROM web_sessions WHERE therapist_id = :id"),
                {"id": group.lead_id},
            )
            return [row.last_seen_at for row in rows]

    before = await last_seen()
    await asyncio.sleep(3 * CHECK)
    after = await last_seen()
    assert len(after) == 1 and after[0] > before[0]
    assert await lea.expect("ping") == {}


async def test_a_socket_without_a_login_is_not_watched(group: Group) -> None:
    """A member's socket (no login cookie) lives on whatever happens to logins."""
    await open_session(group)
    ann, _ = await group.member("Ann")
    await group.store.end_web_sessions_of(group.lead_id)
    await asyncio.sleep(3 * CHECK)
    assert await ann.expect("ping") == {}


async def test_a_logout_on_this_server_closes_her_socket_at_once(
    open_browser: OpenBrowser,
) -> None:
    """With the check every 30 s, a logout page here tells her open socket at once."""
    lea = open_browser()
    assert await lea.login("lea@example.org") == "/groups"
    store = store_of(lea)
    record = await store.therapist_by_email("lea@example.org")
    assert record is not None
    made = await store.create_group("Dinsdag", "nl", record.id, "Regels.", NOW)
    await store.open_session(made.id, record.id, NOW)
    cookie = {c.key: c.value for c in lea.session.cookie_jar}["grouproom_login"]
    socket = SignalingClient(
        await lea.client.ws_connect("/ws", headers={"Cookie": f"grouproom_login={cookie}"})
    )
    assert (await socket.request("enter", {"group": made.id}))["data"]["state"] == "seated"
    status, path, _ = await lea.post("/logout", {"csrf": await lea.csrf()})
    assert (status, path) == (200, "/login")
    assert await socket.closed(seconds=5) == 1008
    assert socket.events[-1]["data"] == {"cause": "logged_out"}


async def test_her_socket_as_anyone_else_goes_on_when_her_login_ends(group: Group) -> None:
    """An invite link opened in her browser (the login cookie comes along): the socket
    is a member's, and her logout changes nothing for it but the rights it had."""
    await open_session(group)
    socket = await group.socket(group.lead_id)
    entered = await socket.request("enter", {"invite": group.invite("Ann"), "accept_rules": 1})
    assert entered["type"] == "entered", entered
    await group.store.end_web_sessions_of(group.lead_id)
    await asyncio.sleep(3 * CHECK)
    assert await socket.expect("ping") == {}
    # A new socket with the ended login is nobody's.
    fresh = await group.socket(group.lead_id)
    assert (await fresh.error("enter", {"group": group.group_id}))["code"] == "login_required"


async def lapse_logins(group: Group) -> None:
    """Her logins' 12 hours are over (set in the database rather than waited for)."""
    async with group.store.engine.begin() as connection:
        await connection.execute(
            text("UPDATE web_sessions SET expires_at = :past"),
            {"past": datetime.now(UTC) - timedelta(minutes=1)},
        )


async def test_a_login_that_lapses_during_her_session_lets_the_session_go_on(
    group: Group,
) -> None:
    """She was let in while it was valid; her session is not cut off at the 12th hour.
    A socket of hers that is not in a session loses the therapist's rights."""
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    idle = await group.socket(group.lead_id)  # a second page, not in the session
    await lapse_logins(group)
    await asyncio.sleep(4 * CHECK)
    assert await lea.expect("ping") == {}
    assert (await idle.error("enter", {"group": group.group_id}))["code"] == "login_required"
    # Disabling the account still ends it.
    await group.store.set_therapist_disabled(group.lead_id, datetime.now(UTC))
    assert await lea.closed() == 1008
