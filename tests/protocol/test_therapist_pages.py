"""The therapists' pages through the real application and an HTTP client: login,
CSRF and origin checks, throttling, groups, roster and invite links, rules, plan,
settings, sessions, attendance with CSV export, and the audit trail."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from grouproom.accounts.passwords import hash_password
from grouproom.app import create_app, store_key
from grouproom.data_dir import load_or_create_secret
from grouproom.rooms.invites import read_invite
from grouproom.rooms.roles import Role
from grouproom.settings import Settings, SettingsError
from grouproom.store.records import AttendanceEntry
from grouproom.store.store import Store
from tests.protocol.conftest import AiohttpClient
from tests.protocol.signaling_client import SignalingClient

PASSWORD = "a long enough password"
NOW = datetime.now(UTC)


@dataclass
class Browser:
    """An HTTP client with its own cookies, posting forms as a page of the server would."""

    client: TestClient[Any, Any]
    session: aiohttp.ClientSession

    @property
    def origin(self) -> str:
        return f"http://{self.client.host}:{self.client.port}"

    @property
    def app(self) -> web.Application:
        app: web.Application = self.client.app
        return app

    async def get(self, path: str, **options: Any) -> tuple[int, str]:
        async with self.session.get(self.origin + path, **options) as response:
            return response.status, await response.text()

    async def post(
        self,
        path: str,
        data: dict[str, str] | list[tuple[str, str]],
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Status, final path and body (redirects followed). `headers` replace the
        default Origin header."""
        if headers is None:
            headers = {"Origin": origin if origin is not None else self.origin}
        async with self.session.post(self.origin + path, data=data, headers=headers) as response:
            return response.status, response.url.path, await response.text()

    async def try_login(self, email: str, password: str) -> tuple[int, str]:
        """The login form filled in and sent: the status and page of the answer."""
        _, page = await self.get("/login")
        status, _, answer = await self.post(
            "/login",
            {"email": email, "password": password, "login_nonce": field(page, "login_nonce")},
        )
        return status, answer

    async def login(self, email: str, password: str = PASSWORD, next_path: str = "") -> str:
        status, page = await self.get("/login" + (f"?next={next_path}" if next_path else ""))
        assert status == 200
        nonce = field(page, "login_nonce")
        status, path, _ = await self.post(
            "/login",
            {"email": email, "password": password, "login_nonce": nonce, "next": next_path},
        )
        return path

    async def csrf(self, path: str = "/groups") -> str:
        status, page = await self.get(path)
        assert status == 200
        return field(page, "csrf")


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field"
    return match.group(1)


@pytest.fixture
async def app_client(aiohttp_client: AiohttpClient, settings: Settings) -> TestClient[Any, Any]:
    client = await aiohttp_client(create_app(settings))
    store: Store = client.app[store_key]
    for email, name in (
        ("lea@example.org", "Lea"),
        ("cor@example.org", "Cor"),
        ("eve@example.org", "Eve"),
    ):
        await store.add_therapist(email, name, hash_password(PASSWORD), NOW)
    return client


OpenBrowser = Callable[[], Browser]


@pytest.fixture
async def open_browser(app_client: TestClient[Any, Any]) -> AsyncIterator[OpenBrowser]:
    """New browsers (each with its own cookies) on the running server."""
    sessions: list[aiohttp.ClientSession] = []

    def open_one() -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return Browser(app_client, session)

    yield open_one
    for session in sessions:
        await session.close()


@pytest.fixture
async def lea(open_browser: OpenBrowser) -> Browser:
    browser = open_browser()
    assert await browser.login("lea@example.org") == "/groups"
    return browser


async def make_group(browser: Browser, name: str = "Dinsdaggroep", cotherapist: str = "") -> str:
    token = await browser.csrf()
    status, path, _ = await browser.post(
        "/groups",
        {
            "csrf": token,
            "name": name,
            "language": "nl",
            "rules": "Wat hier gezegd wordt, blijft hier.",
            "cotherapist_email": cotherapist,
        },
    )
    assert status == 200 and path.startswith("/groups/"), path
    return path.rsplit("/", 1)[1]


def store_of(browser: Browser) -> Store:
    store: Store = browser.app[store_key]
    return store


# -- login ---------------------------------------------------------------------------


async def test_pages_need_a_login_and_return_where_asked(open_browser: OpenBrowser) -> None:
    browser = open_browser()
    async with browser.session.get(
        browser.origin + "/groups/abc?x=1", allow_redirects=False
    ) as response:
        assert response.status == 303
        assert unquote(response.headers["Location"]) == "/login?next=/groups/abc?x=1"
    assert await browser.login("lea@example.org", next_path="/groups") == "/groups"


async def test_the_login_cookie_is_http_only_and_strict(open_browser: OpenBrowser) -> None:
    browser = open_browser()
    _status, page = await browser.get("/login")
    nonce = field(page, "login_nonce")
    async with browser.session.post(
        browser.origin + "/login",
        data={"email": "lea@example.org", "password": PASSWORD, "login_nonce": nonce},
        headers={"Origin": browser.origin},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        cookie = response.headers.getall("Set-Cookie")
    login = next(c for c in cookie if c.startswith("grouproom_login="))
    assert "HttpOnly" in login and "SameSite=Strict" in login


async def test_cookies_are_secure_behind_an_https_proxy(open_browser: OpenBrowser) -> None:
    # The reverse proxy terminates TLS and says so (X-Forwarded-Proto): every cookie
    # the pages set (language, login nonce, login) is then sent over HTTPS only.
    browser = open_browser()
    https = {"X-Forwarded-Proto": "https"}
    for headers, secure in (({}, False), (https, True)):
        async with browser.session.get(
            browser.origin + "/login?lang=en", headers=headers
        ) as response:
            cookies = response.headers.getall("Set-Cookie")
            page = await response.text()
        names = {cookie.split("=", 1)[0] for cookie in cookies}
        assert names == {"grouproom_lang", "grouproom_login_nonce"}, cookies
        assert all(("Secure" in cookie) is secure for cookie in cookies), cookies
    async with browser.session.post(
        browser.origin + "/login",
        data={
            "email": "lea@example.org",
            "password": PASSWORD,
            "login_nonce": field(page, "login_nonce"),
        },
        # The browser is on the proxy's https origin; the client's cookie jar sends
        # no Secure cookie over this plain-HTTP test connection: the nonce by hand.
        headers={
            "Origin": browser.origin.replace("http://", "https://"),
            "Cookie": f"grouproom_login_nonce={field(page, 'login_nonce')}",
            **https,
        },
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        login = next(
            c for c in response.headers.getall("Set-Cookie") if c.startswith("grouproom_login=")
        )
    assert "Secure" in login


async def test_wrong_passwords_are_refused_then_throttled(open_browser: OpenBrowser) -> None:
    browser = open_browser()
    for _ in range(5):
        status, body = await browser.try_login("lea@example.org", "wrong")
        assert status == 401 and "password is not right" in body
    status, body = await browser.try_login("lea@example.org", PASSWORD)
    assert status == 429 and "Too many attempts" in body
    async with store_of(browser).engine.connect() as connection:
        failures = await connection.scalar(
            text("SELECT count(*) FROM audit_log WHERE action = 'login_failed'")
        )
    assert failures == 5  # failed logins are security events in the audit log


async def test_the_throttle_outlasts_a_restart(
    open_browser: OpenBrowser,
    app_client: TestClient[Any, Any],
    aiohttp_client: AiohttpClient,
    settings: Settings,
) -> None:
    browser = open_browser()
    for _ in range(5):
        assert (await browser.try_login("lea@example.org", "wrong"))[0] == 401
    async with store_of(browser).engine.connect() as connection:
        saved = (await connection.execute(text("SELECT kind, key_hash FROM login_failures"))).all()
    # Kept by account and by address, as HMACs: no email or IP address in the table.
    assert sorted({row.kind for row in saved}) == ["account", "address"] and len(saved) == 10
    assert not any("lea" in row.key_hash or "127.0.0.1" in row.key_hash for row in saved)
    await app_client.close()  # the server stops

    restarted = await aiohttp_client(create_app(settings))
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        again = Browser(restarted, session)
        assert (await again.try_login("lea@example.org", PASSWORD))[0] == 429  # still throttled
    finally:
        await session.close()


async def test_a_login_form_from_elsewhere_is_refused(open_browser: OpenBrowser) -> None:
    browser = open_browser()
    status, page = await browser.get("/login")
    data = {
        "email": "lea@example.org",
        "password": PASSWORD,
        "login_nonce": field(page, "login_nonce"),
    }
    status, _, _ = await browser.post("/login", data, origin="https://evil.example")
    assert status == 403
    status, _, _ = await browser.post("/login", {**data, "login_nonce": "guessed"})
    assert status == 403
    # Characters beyond ASCII are refused like any wrong value, not a server error.
    status, _, _ = await browser.post("/login", {**data, "login_nonce": "é" * 32})
    assert status == 403


async def test_an_open_redirect_is_not_followed(open_browser: OpenBrowser) -> None:
    browser = open_browser()
    assert await browser.login("lea@example.org", next_path="//evil.example/x") == "/groups"


async def test_logout_ends_the_login(lea: Browser) -> None:
    token = await lea.csrf()
    status, path, _ = await lea.post("/logout", {"csrf": token})
    assert (status, path) == (200, "/login")
    _status, page = await lea.get("/groups")
    assert "login_nonce" in page  # back at the login form


async def test_her_pages_can_ask_whether_the_login_still_stands(lea: Browser) -> None:
    """Every page shown to a logged-in therapist carries the script that leaves it
    once the login has ended, and where to come back to (itself; nothing for a page
    that answered a form); the login page it goes to says why."""

    async def state() -> object:
        async with lea.session.get(lea.origin + "/login/state") as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            return (await response.json())["logged_in"]

    assert await state() is True
    _, page = await lea.get("/groups?lang=en")
    assert '<script type="module" src="/static/js/login-ended.js"></script>' in page
    assert 'data-login-next="/groups?lang=en"' in page
    _, path, answer = await lea.post(
        "/groups", {"name": "", "language": "nl", "rules": "R.", "csrf": await lea.csrf()}
    )
    assert path == "/groups" and 'data-login-next=""' in answer  # the form again, with why
    token = await lea.csrf()
    await lea.post("/logout", {"csrf": token})
    assert await state() is False
    _, login_page = await lea.get("/login?ended=1&next=%2Fgroups&lang=en")
    assert "Your login has ended" in login_page and "login-ended.js" not in login_page
    _, plain_login = await lea.get("/login?lang=en")
    assert "Your login has ended" not in plain_login


async def test_the_privacy_page_says_what_is_kept_for_how_long_and_whom_to_ask(
    aiohttp_client: AiohttpClient, settings: Settings, open_browser: OpenBrowser
) -> None:
    """For anyone (a member's way in links to it), in her language: what is kept and
    for how long (the server's retention), what never is, and who answers for it
    (the care provider, when the operator named it)."""
    visitor = open_browser()
    status, page = await visitor.get("/privacy?lang=en")
    assert status == 200 and "Your privacy in the online group" in page
    assert "Attendance and accepted rules: 365 days." in page
    assert "The organisation that invited you" in page and 'id="privacy-statement"' not in page
    assert "never recorded" in page and "login-ended.js" not in page
    assert "Anything at all from an open room" in page
    status, dutch = await visitor.get("/privacy?lang=nl")
    assert "Aanwezigheid en aanvaarde regels: 365 dagen." in dutch

    named = replace(
        settings,
        retention_days=30,
        privacy_contact="Instituut <Voorbeeld>, privacy@voorbeeld.nl",
        privacy_url="https://voorbeeld.nl/privacy",
    )
    client = await aiohttp_client(create_app(named))
    response = await client.get("/privacy?lang=en")
    page = await response.text()
    assert response.status == 200 and "Content-Security-Policy" in response.headers
    assert "Instituut &lt;Voorbeeld&gt;, privacy@voorbeeld.nl" in page
    assert 'href="https://voorbeeld.nl/privacy" id="privacy-statement"' in page
    assert "Attendance and accepted rules: 30 days." in page


def test_privacy_settings_are_checked(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="privacy url must start with https://"):
        replace(settings, privacy_url="javascript:alert(1)")
    with pytest.raises(SettingsError, match="at most 300 characters"):
        replace(settings, privacy_contact="x" * 301)


# -- groups and their data -----------------------------------------------------------


async def test_forms_without_a_valid_token_or_from_elsewhere_change_nothing(lea: Browser) -> None:
    token = await lea.csrf()
    data = {"name": "G", "language": "nl", "rules": "R."}
    assert (await lea.post("/groups", {**data, "csrf": "forged"}))[0] == 403
    assert (await lea.post("/groups", {**data, "csrf": "ü" * 43}))[0] == 403
    assert (await lea.post("/groups", {**data, "csrf": token}, origin="https://evil.example"))[
        0
    ] == 403
    assert (await lea.post("/groups", data))[0] == 403
    assert await store_of(lea).groups_of(await therapist_id(lea, "lea@example.org")) == []


async def therapist_id(browser: Browser, email: str) -> str:
    therapist = await store_of(browser).therapist_by_email(email)
    assert therapist is not None
    return therapist.id


async def test_a_group_with_a_cotherapist_and_invite_links(
    lea: Browser, open_browser: OpenBrowser, settings: Settings
) -> None:
    group_id = await make_group(lea, cotherapist="cor@example.org")
    token = await lea.csrf(f"/groups/{group_id}")
    for name, role in (("Ann", "member"), ("Olga", "observer")):
        status, path, _ = await lea.post(
            f"/groups/{group_id}/roster", {"csrf": token, "display_name": name, "role": role}
        )
        assert path == f"/groups/{group_id}"
    status, page = await lea.get(f"/groups/{group_id}?lang=en")
    assert status == 200 and ">Copy</button>" in page and "built-in" not in page
    links = re.findall(r'class="invite-link" readonly value="([^"]+)"', page)
    assert len(links) == 2 and all(link.startswith(lea.origin + "/join/") for link in links)
    # Beside each link, an invitation to paste into an email: in the group's language
    # (Dutch, although Lea reads the page in English), signed by her.
    assert ">Copy invitation</button>" in page
    ann, olga = [html.unescape(text) for text in re.findall(r'data-copy="([^"]*)"', page)]
    assert ann.startswith("Beste Ann,\n\n") and f"\u2018Dinsdaggroep\u2019:\n{links[0]}\n" in ann
    assert "met een camera en een microfoon" in ann and "Als toehoorder" not in ann
    assert ann.endswith("Met vriendelijke groet,\nLea")
    assert olga.startswith("Beste Olga,") and links[1] in olga and "Als toehoorder" in olga
    (device,) = [line for line in olga.splitlines() if line.startswith("- Open de link")]
    assert "camera" not in device  # an observer is neither seen nor heard
    secret = load_or_create_secret(Path(settings.data_dir))
    claims = read_invite(secret, links[0].rsplit("/", 1)[1], NOW.timestamp())
    roster = await store_of(lea).roster_of(group_id)
    assert (claims.group_id, claims.member_id, claims.serial) == (group_id, roster[0].id, 1)
    assert [e.role for e in roster] == [Role.MEMBER, Role.OBSERVER]

    # Revoking raises the serial: the old link's serial no longer matches.
    await lea.post(f"/groups/{group_id}/roster/{roster[0].id}/revoke", {"csrf": token})
    entry = await store_of(lea).roster_entry(roster[0].id)
    assert entry is not None and entry.invite_serial == 2 != claims.serial

    # The cotherapist sees the group; another therapist does not even learn it exists.
    cor = open_browser()
    assert await cor.login("cor@example.org") == "/groups"
    assert (await cor.get(f"/groups/{group_id}"))[0] == 200
    eve = open_browser()
    await eve.login("eve@example.org")
    assert (await eve.get(f"/groups/{group_id}"))[0] == 404
    eve_token = await eve.csrf()
    status, _, _ = await eve.post(
        f"/groups/{group_id}/roster",
        {"csrf": eve_token, "display_name": "Mallory", "role": "member"},
    )
    assert status == 404
    assert len(await store_of(lea).roster_of(group_id)) == 2


async def test_rules_plan_and_settings(lea: Browser) -> None:
    group_id = await make_group(lea)
    token = await lea.csrf(f"/groups/{group_id}")
    await lea.post(f"/groups/{group_id}/rules", {"csrf": token, "text": "Nieuwe regels.\r\nTwee."})
    rules = await store_of(lea).rules_history(group_id)
    assert (rules[0].version, rules[0].text, rules[0].chat_enabled) == (
        2,
        "Nieuwe regels.\nTwee.",
        False,
    )

    plan_form = [
        ("csrf", token),
        ("phase_name", "Binnenkomst"),
        ("phase_kind", "arrival"),
        ("phase_minutes", "10"),
        ("phase_name", "Ronde"),
        ("phase_kind", "round"),
        ("phase_minutes", "20"),
        ("phase_name", ""),
        ("phase_kind", "theme"),
        ("phase_minutes", ""),
    ]
    status, path, _ = await lea.post(f"/groups/{group_id}/plan", plan_form)
    assert path == f"/groups/{group_id}"
    plan = await store_of(lea).plan_of(group_id)
    assert [(p.name, p.minutes) for p in plan.phases] == [("Binnenkomst", 10), ("Ronde", 20)]
    bad = [
        ("csrf", token),
        ("phase_name", "Thema"),
        ("phase_kind", "theme"),
        ("phase_minutes", "999"),
    ]
    status, _, body = await lea.post(f"/groups/{group_id}/plan", bad)
    assert status == 400 and "Thema" in body
    assert len((await store_of(lea).plan_of(group_id)).phases) == 2  # unchanged

    await lea.post(
        f"/groups/{group_id}/settings",
        {"csrf": token, "cotherapist_email": "cor@example.org", "auto_admit": "on"},
    )
    group = await store_of(lea).group(group_id)
    assert group is not None and group.auto_admit and not group.round_mutes_others
    assert group.cotherapist_id == await therapist_id(lea, "cor@example.org")
    assert group.schedule == ""  # a form without the field leaves it as it was

    # When the group meets: on the page, in the invitations, and (whether it changed,
    # not what it says) in the audit log.
    await lea.post(f"/groups/{group_id}/roster", {"csrf": token, "display_name": "Ann"})
    await lea.post(
        f"/groups/{group_id}/settings",
        {"csrf": token, "cotherapist_email": "cor@example.org", "schedule": "Dinsdag <19.00>"},
    )
    _, page = await lea.get(f"/groups/{group_id}")
    assert 'id="group-schedule" maxlength="200" value="Dinsdag &lt;19.00&gt;"' in page
    (invitation,) = [html.unescape(text) for text in re.findall(r'data-copy="([^"]*)"', page)]
    assert "\n\nDe groep komt bijeen: Dinsdag <19.00>\n\nZo werkt het:" in invitation
    audit = await store_of(lea).audit_of_group(group_id)
    latest = next(e for e in audit if e.action == "update_settings")  # newest first
    assert latest.detail.endswith("schedule_changed=True") and "Dinsdag" not in latest.detail
    status, _, body = await lea.post(
        f"/groups/{group_id}/settings",
        {"csrf": token, "cotherapist_email": "cor@example.org", "schedule": "x" * 201},
    )
    assert status == 400 and "at most 200 characters" in body
    status, _, body = await lea.post(
        f"/groups/{group_id}/settings", {"csrf": token, "cotherapist_email": "nobody@example.org"}
    )
    assert status == 400 and "no therapist with that email" in body


async def test_sessions_attendance_csv_and_the_audit_trail(lea: Browser) -> None:
    group_id = await make_group(lea)
    token = await lea.csrf(f"/groups/{group_id}")
    await lea.post(f"/groups/{group_id}/sessions", {"csrf": token})
    session = await store_of(lea).open_session_of(group_id)
    assert session is not None
    status, _, body = await lea.post(f"/groups/{group_id}/sessions", {"csrf": token})
    assert status == 400 and "already has an open session" in body
    name = "=HYPERLINK(1)"
    member = await store_of(lea).add_to_roster(group_id, name, Role.MEMBER, NOW)
    for joined in (True, False):
        await store_of(lea).record_attendance(
            AttendanceEntry(
                session.id, member.id, name, Role.MEMBER, joined, NOW, None if joined else "left"
            )
        )
    await lea.post(f"/groups/{group_id}/sessions/{session.id}/close", {"csrf": token})
    assert await store_of(lea).open_session_of(group_id) is None

    status, page = await lea.get(f"/groups/{group_id}/attendance")
    assert status == 200 and page.count("=HYPERLINK(1)") == 2
    async with lea.session.get(f"{lea.origin}/groups/{group_id}/attendance?format=csv") as response:
        assert response.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == ["session", "time", "name", "role", "event", "cause"]
    assert rows[1][2] == "'=HYPERLINK(1)" and rows[2][4:] == ["left", "left"]

    status, page = await lea.get(f"/groups/{group_id}/audit")
    actions = [entry.action for entry in await store_of(lea).audit_of_group(group_id)]
    assert actions[:1] == ["view_audit"]
    for expected in (
        "create_group",
        "view_group",
        "open_session",
        "close_session",
        "view_attendance",
        "export_attendance",
    ):
        assert expected in actions
    assert "close_session" in page and "Lea" in page


async def test_pages_follow_the_browser_language_and_the_switch(lea: Browser) -> None:
    status, page = await lea.get("/groups", headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    assert "Uw groepen" in page
    status, page = await lea.get("/groups?lang=en")
    assert status == 200 and "Your groups" in page
    _status, page = await lea.get("/groups", headers={"Accept-Language": "nl"})
    assert "Your groups" in page  # the choice is remembered


async def test_the_session_pages(lea: Browser, open_browser: OpenBrowser) -> None:
    group_id = await make_group(lea)
    status, page = await lea.get(f"/groups/{group_id}/room")
    assert status == 200 and "session page" in page
    stranger = open_browser()
    async with stranger.session.get(
        f"{stranger.origin}/groups/{group_id}/room", allow_redirects=False
    ) as response:
        assert response.status == 303  # to the login
    # An invite link opens the same page; the token is checked over the WebSocket.
    status, page = await stranger.get("/join/anything")
    assert status == 200 and "session page" in page
    actions = [e.action for e in await store_of(lea).audit_of_group(group_id)]
    assert "enter_room" in actions


# -- privacy: referrer, CSRF origin check, pseudonymous audit, a member's own data -----


async def test_no_referrer_and_the_origin_check_by_fetch_metadata(lea: Browser) -> None:
    async with lea.session.get(lea.origin + "/groups") as response:
        assert response.headers["Referrer-Policy"] == "no-referrer"
    token = await lea.csrf()
    form = {"name": "G", "language": "nl", "rules": "R.", "csrf": token}
    # What a browser sends on this server's own form under no-referrer.
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    refused: list[dict[str, str]] = [
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": lea.origin, "Sec-Fetch-Site": "cross-site"},  # Fetch Metadata decides
        {"Origin": lea.origin, "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},  # no way to tell where it came from
        {"Origin": "https://evil.example", "Referer": lea.origin + "/groups"},
        {"Referer": "https://evil.example/page"},
    ]
    for headers in refused:
        assert (await lea.post("/groups", form, headers=headers))[0] == 403, headers
    lea_id = await therapist_id(lea, "lea@example.org")
    assert await store_of(lea).groups_of(lea_id) == []
    for headers in (own, {"Origin": "null", "Referer": lea.origin + "/groups"}):
        status, path, _ = await lea.post("/groups", form, headers=headers)
        assert status == 200 and path.startswith("/groups/"), headers
    assert len(await store_of(lea).groups_of(lea_id)) == 2


async def test_the_audit_log_holds_ids_not_names_or_typed_text(
    lea: Browser, open_browser: OpenBrowser
) -> None:
    group_id = await make_group(lea)
    token = await lea.csrf(f"/groups/{group_id}")
    await lea.post(
        f"/groups/{group_id}/roster",
        {"csrf": token, "display_name": "Gerarda Klaassen", "role": "member"},
    )
    (entry,) = await store_of(lea).roster_of(group_id)
    await lea.post(f"/groups/{group_id}/roster/{entry.id}/revoke", {"csrf": token})
    await lea.post(f"/groups/{group_id}/roster/{entry.id}/archive", {"csrf": token})
    stranger = open_browser()
    _status, page = await stranger.get("/login")
    await stranger.post(
        "/login",
        {"email": "Gerarda typed this", "password": "x", "login_nonce": field(page, "login_nonce")},
    )
    async with store_of(lea).engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM audit_log"))).all()
    assert "Gerarda" not in repr(rows)
    subjects = {row.action: row.subject for row in rows}
    for action in ("add_to_roster", "revoke_invite", "take_off_roster"):
        assert subjects[action] == entry.id
    assert subjects["login_failed"] is None
    # The audit page still shows who it was about, from the (archived) roster.
    status, page = await lea.get(f"/groups/{group_id}/audit")
    assert status == 200 and "Gerarda Klaassen" in page
    # A page address someone typed: digits of another script or beyond the
    # database's integers show the newest page, never a server error.
    for before in ("²³", "9" * 30, "-1", "abc"):
        status, page = await lea.get(f"/groups/{group_id}/audit?before={before}")
        assert status == 200 and "Gerarda Klaassen" in page, before


async def test_a_members_data_is_exported_and_deleted_from_the_group_page(
    lea: Browser, open_browser: OpenBrowser
) -> None:
    group_id = await make_group(lea, cotherapist="cor@example.org")
    token = await lea.csrf(f"/groups/{group_id}")
    for name in ("Hendrika Zwart", "Bram"):
        await lea.post(
            f"/groups/{group_id}/roster", {"csrf": token, "display_name": name, "role": "member"}
        )
    hendrika, bram = await store_of(lea).roster_of(group_id)
    _status, page = await lea.get(f"/groups/{group_id}?lang=en")
    member = f"/groups/{group_id}/roster/{hendrika.id}"
    assert f'href="{member}/data"' in page and f'href="{member}/erase"' in page
    invite = re.findall(r'class="invite-link" readonly value="[^"]+/join/([^"]+)"', page)[0]
    await lea.post(f"/groups/{group_id}/sessions", {"csrf": token})
    session = await store_of(lea).open_session_of(group_id)
    assert session is not None
    await store_of(lea).record_attendance(
        AttendanceEntry(
            session.id, hendrika.id, hendrika.display_name, Role.MEMBER, True, NOW, None
        )
    )

    # Export: a JSON download of everything about her, audited.
    async with lea.session.get(lea.origin + member + "/data") as response:
        assert response.status == 200 and response.content_type == "application/json"
        assert "attachment" in response.headers["Content-Disposition"]
        document = json.loads(await response.text())
    assert document["roster_entry"]["display_name"] == "Hendrika Zwart"
    assert [row["event"] for row in document["attendance"]] == ["joined"]

    # A therapist of another group learns nothing, exports nothing, deletes nothing.
    eve = open_browser()
    await eve.login("eve@example.org")
    eve_token = await eve.csrf()
    for path in (member + "/data", member + "/erase"):
        assert (await eve.get(path))[0] == 404
    assert (await eve.post(member + "/erase", {"csrf": eve_token, "confirm": "yes"}))[0] == 404
    # Nor through a group of her own with Hendrika's id.
    eve_group = await make_group(eve, "Eves groep")
    assert (await eve.get(f"/groups/{eve_group}/roster/{hendrika.id}/data"))[0] == 404

    # The confirmation step, in both languages.
    status, page = await lea.get(member + "/erase?lang=nl")
    assert status == 200 and "De gegevens van Hendrika Zwart wissen" in page
    status, page = await lea.get(member + "/erase?lang=en")
    assert "Delete the data of Hendrika Zwart" in page and 'name="confirm"' in page
    status, _, page = await lea.post(member + "/erase", {"csrf": token})
    assert status == 400 and "Tick the box" in page
    assert (await lea.post(member + "/erase", {"csrf": "forged", "confirm": "yes"}))[0] == 403
    assert (
        await lea.post(
            member + "/erase", {"csrf": token, "confirm": "yes"}, origin="https://evil.example"
        )
    )[0] == 403
    assert await store_of(lea).roster_entry(hendrika.id) is not None  # nothing deleted yet

    status, path, page = await lea.post(member + "/erase", {"csrf": token, "confirm": "yes"})
    assert (status, path) == (200, f"/groups/{group_id}") and "The data were deleted." in page
    assert "Hendrika" not in page
    assert [e.id for e in await store_of(lea).roster_of(group_id)] == [bram.id]
    (row,) = await store_of(lea).attendance_of_session(session.id)
    assert row.person_id == hendrika.id and row.display_name is None
    status, page = await lea.get(f"/groups/{group_id}/attendance?lang=en")
    assert "(deleted)" in page and "Hendrika" not in page
    about = [(e.actor_kind, e.action) for e in await store_of(lea).audit_about(hendrika.id)]
    assert ("therapist", "export_member_data") in about
    assert about[-1] == ("therapist", "erase_member_data")
    assert (await lea.get(member + "/data"))[0] == 404  # gone

    # Her invite link no longer opens anything.
    async with lea.client.session.ws_connect(lea.origin + "/ws") as ws:
        socket = SignalingClient(ws)
        error = await socket.error("session_info", {"invite": invite})
    assert error["code"] == "invite_invalid"


async def test_former_members_can_be_exported_and_deleted_too(lea: Browser) -> None:
    group_id = await make_group(lea)
    token = await lea.csrf(f"/groups/{group_id}")
    await lea.post(
        f"/groups/{group_id}/roster", {"csrf": token, "display_name": "Oud lid", "role": "member"}
    )
    (entry,) = await store_of(lea).roster_of(group_id)
    await lea.post(f"/groups/{group_id}/roster/{entry.id}/archive", {"csrf": token})
    _status, page = await lea.get(f"/groups/{group_id}?lang=en")
    assert 'id="former-members"' in page and f"/roster/{entry.id}/erase" in page
    assert (await lea.get(f"/groups/{group_id}/roster/{entry.id}/data"))[0] == 200
    await lea.post(f"/groups/{group_id}/roster/{entry.id}/erase", {"csrf": token, "confirm": "yes"})
    _status, page = await lea.get(f"/groups/{group_id}?lang=en")
    assert "Oud lid" not in page and 'id="former-members"' not in page
