"""No personal data in the server's log: the real server (`python -m grouproom serve`
in a process of its own, logging as it does in production) takes a therapist and a
member with a distinctive name through login, group page, invite link, ground
rules, waiting room and group chat, with a failed login on the way. Nothing it
writes (standard output and error) may hold the member's name, the chat text,
the therapist's email address or the invite token. The same again in-process,
with every logger at DEBUG."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grouproom.__main__ import QUIET_LOGGERS
from grouproom.accounts.passwords import hash_password
from grouproom.app import create_app, store_key
from grouproom.data_dir import load_or_create_secret
from grouproom.rooms.invites import InviteClaims, make_invite
from grouproom.rooms.roles import Role
from grouproom.settings import Settings
from grouproom.store.store import Store
from tests.protocol.conftest import AiohttpClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_cli import REPO, clean_environment, free_port

NAME = "Zebedeus Quackenbosch"
CHAT = "mijn geheim is xylofoonvlinder"
EMAIL = "therapeut.vertrouwelijk@example.org"
PASSWORD = "a long enough password"


async def run(*arguments: str, stdin: str = "") -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "grouproom",
        *arguments,
        cwd=REPO,
        env=clean_environment(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    assert process.returncode == 0, err.decode()


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field"
    return match.group(1)


async def test_the_server_log_holds_no_names_chat_emails_or_tokens(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    await run(
        "therapist",
        "add",
        EMAIL,
        "--name",
        "Lea",
        "--password-stdin",
        "--data-dir",
        data,
        stdin=PASSWORD + "\n",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {**clean_environment(), "GROUPROOM_DEMO_GROUP": "false"}
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "grouproom", "serve", "--port", str(port), "--data-dir", data),
        cwd=REPO,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    jar = aiohttp.CookieJar(unsafe=True)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            invite = await through_the_pages(http, base)
            await through_the_session(http, base, invite)
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(server.communicate(), 30)
    log = out.decode() + err.decode()
    assert server.returncode == 0, log
    # The log was written (a session went live), so its silence below means something.
    assert "session " in log and "is live" in log, log
    for secret in (NAME, "Quackenbosch", CHAT, "xylofoonvlinder", EMAIL, invite):
        assert secret.lower() not in log.lower(), secret


async def through_the_pages(http: aiohttp.ClientSession, base: str) -> str:
    """Log in (after one wrong password), make a group with chat allowed, add the
    member, open a session; returns the member's invite token."""
    for _ in range(100):
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    break
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    own = {"Origin": base}

    async def post(path: str, data: dict[str, str]) -> str:
        async with http.post(base + path, data=data, headers=own) as response:
            return str(response.url.path)

    for password in ("wrong password!", PASSWORD):
        async with http.get(f"{base}/login") as response:
            nonce = field(await response.text(), "login_nonce")
        landed = await post("/login", {"email": EMAIL, "password": password, "login_nonce": nonce})
    assert landed == "/groups"
    async with http.get(f"{base}/groups") as response:
        token = field(await response.text(), "csrf")
    group_path = await post(
        "/groups", {"csrf": token, "name": "Dinsdag", "language": "nl", "rules": "Regels."}
    )
    await post(f"{group_path}/rules", {"csrf": token, "text": "Regels.", "chat_enabled": "on"})
    await post(f"{group_path}/roster", {"csrf": token, "display_name": NAME, "role": "member"})
    await post(f"{group_path}/sessions", {"csrf": token})
    async with http.get(base + group_path) as response:
        page = await response.text()
    links = re.findall(r'class="invite-link" readonly value="[^"]+/join/([^"]+)"', page)
    assert len(links) == 1 and NAME in page
    return str(links[0])


async def through_the_session(http: aiohttp.ClientSession, base: str, invite: str) -> None:
    """The therapist enters; the member opens the invite link, accepts the rules,
    is admitted and writes in the group chat."""
    group_id = await group_of(http, base)
    async with http.get(f"{base}/join/{invite}") as response:
        assert response.status == 200
    async with (
        http.ws_connect(f"{base}/ws") as therapist_ws,
        aiohttp.ClientSession() as member_http,
        member_http.ws_connect(f"{base}/ws") as member_ws,
    ):
        lea, member = SignalingClient(therapist_ws), SignalingClient(member_ws)
        entered = await lea.request("enter", {"group": group_id})
        assert entered["data"]["state"] == "seated", entered
        info = await member.request("session_info", {"invite": invite})
        assert info["data"]["you"]["name"] == NAME
        version = info["data"]["rules"]["version"]
        entered = await member.request("enter", {"invite": invite, "accept_rules": version})
        assert entered["data"] == {"state": "waiting"}, entered
        waiting: dict[str, Any] = (await lea.event("waiting_room"))["data"]
        member_id = waiting["people"][0]["id"]
        await lea.expect("moderate", {"action": "admit", "target": member_id})
        await member.event("admitted")
        await member.expect("chat", {"channel": "group", "text": CHAT})
        while (await lea.event("chat_message"))["data"]["text"] != CHAT:
            pass
        await member.expect("leave")


async def group_of(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}/groups") as response:
        page = await response.text()
    match = re.search(r'href="/groups/([A-Za-z0-9_-]+)"', page)
    assert match, page
    return match.group(1)


async def test_no_personal_data_in_any_log_line_even_at_debug(
    aiohttp_client: AiohttpClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The same way through the in-process application, with every logger (aiohttp,
    asyncio, grouproom's own, ...) at DEBUG, except those the server holds at WARNING
    (QUIET_LOGGERS: the database libraries log SQL values at DEBUG)."""
    # (caplog.set_level also sets its handler's level: the DEBUG calls come last.)
    for name in QUIET_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] not in QUIET_LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(create_app(settings))
    store: Store = client.app[store_key]
    now = datetime.now(UTC)
    lead = await store.add_therapist(EMAIL, "Lea", hash_password(PASSWORD), now)
    group = await store.create_group("Dinsdag", "nl", lead.id, "Regels.", now)
    member = await store.add_to_roster(group.id, NAME, Role.MEMBER, now)
    await store.open_session(group.id, lead.id, now)
    login = await store.create_web_session(lead.id, now, timedelta(hours=1))
    secret = load_or_create_secret(Path(settings.data_dir))
    invite = make_invite(secret, InviteClaims(group.id, member.id, 1, int(time.time()) + 3600))
    cookie = {"Cookie": f"grouproom_login={login}"}
    async with (
        client.ws_connect("/ws", headers=cookie) as therapist_ws,
        client.ws_connect("/ws") as member_ws,
    ):
        lea, person = SignalingClient(therapist_ws), SignalingClient(member_ws)
        assert (await lea.request("enter", {"group": group.id}))["data"]["state"] == "seated"
        entered = await person.request("enter", {"invite": invite, "accept_rules": 1})
        assert entered["data"] == {"state": "waiting"}, entered
        await lea.expect("moderate", {"action": "admit", "target": member.id})
        await person.event("admitted")
        await person.expect("chat", {"channel": "group", "text": CHAT})
        while (await lea.event("chat_message"))["data"]["text"] != CHAT:
            pass
        await person.expect("leave")
    await client.close()
    assert any(record.levelno == logging.DEBUG for record in caplog.records)  # it listened
    lines = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    for secret_value in (NAME, "Quackenbosch", CHAT, EMAIL, invite, login):
        assert secret_value.lower() not in lines.lower(), secret_value
