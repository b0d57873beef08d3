"""A therapist's own account, through the real application: changing the password,
and two-step login (setting an authenticator app up, the code after the password,
replays, recovery codes, the throttle, the signed step between the two, the
"required" setting, and the audit)."""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from grouproom.accounts.passwords import hash_password
from grouproom.accounts.two_factor import code_at, step_at
from grouproom.app import create_app, store_key
from grouproom.data_dir import SECRET_FILE
from grouproom.settings import Settings
from grouproom.store.store import Store
from tests.protocol.conftest import AiohttpClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_therapist_pages import (
    NOW,
    PASSWORD,
    Browser,
    OpenBrowser,
    app_client,
    field,
    open_browser,
    store_of,
)

__all__ = ["app_client", "open_browser"]  # fixtures used by the tests below


def secret_on(page: str) -> str:
    match = re.search(r'data-secret="([A-Z2-7]+)"', page)
    assert match, "no secret on the page"
    return match.group(1)


def code_now(secret: str, steps_ahead: int = 0) -> str:
    return code_at(secret, step_at(time.time()) + steps_ahead)


def recovery_codes_on(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page)


async def password_step(browser: Browser, email: str = "lea@example.org") -> str:
    """Logs in with the password; the path it lands on."""
    return await browser.login(email)


async def turn_on(browser: Browser) -> tuple[str, list[str]]:
    """Sets up two-step login for the logged-in browser: the secret and the codes."""
    status, page = await browser.get("/account/two-factor")
    assert status == 200 and "<svg" in page
    secret = secret_on(page)
    status, path, page = await browser.post(
        "/account/two-factor", {"csrf": field(page, "csrf"), "code": code_now(secret)}
    )
    assert status == 200 and path == "/account/two-factor", page
    codes = recovery_codes_on(page)
    assert len(codes) == 10
    return secret, codes


async def audit_actions(store: Store) -> list[tuple[str, str]]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(text("SELECT action, detail FROM audit_log ORDER BY id"))
        return [(row.action, row.detail) for row in rows]


async def test_turned_on_the_password_alone_no_longer_logs_in(
    open_browser: OpenBrowser,
) -> None:
    lea = open_browser()
    assert await password_step(lea) == "/groups"
    elsewhere = open_browser()  # a second login, made with the password alone
    assert await password_step(elsewhere) == "/groups"
    status, page = await lea.get("/account")
    assert 'data-state="off"' in page
    # The setup page shows the same secret until it is confirmed.
    _, first = await lea.get("/account/two-factor")
    _, again = await lea.get("/account/two-factor")
    assert secret_on(first) == secret_on(again)
    status, _, page = await lea.post(
        "/account/two-factor",
        {"csrf": field(first, "csrf"), "code": code_now(secret_on(first), steps_ahead=5)},
    )
    assert status == 400 and "not right" in page
    _, page = await lea.get("/account")
    assert 'data-state="off"' in page

    secret, _codes = await turn_on(lea)
    _, page = await lea.get("/account")
    assert 'data-state="on"' in page and "Recovery codes left: 10" in page
    # This login goes on; the one made with the password alone elsewhere ended.
    assert (await lea.get("/groups"))[0] == 200
    status, _ = await elsewhere.get("/groups", allow_redirects=False)
    assert status == 303

    newcomer = open_browser()
    assert await password_step(newcomer) == "/login/code"
    async with newcomer.session.get(newcomer.origin + "/groups", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login")
    # A code for this step has been used by the setup: the next one is taken.
    status, path, _ = await newcomer.post("/login/code", {"code": code_now(secret, 1)})
    assert (status, path) == (200, "/groups")
    assert ("login", "second step: app") in await audit_actions(store_of(lea))
    assert ("two_factor_enabled", "") in await audit_actions(store_of(lea))


async def test_a_code_is_taken_once(open_browser: OpenBrowser) -> None:
    lea = open_browser()
    await password_step(lea)
    secret, _ = await turn_on(lea)
    first, second = open_browser(), open_browser()
    code = code_now(secret, 1)
    assert await password_step(first) == "/login/code"
    assert await password_step(second) == "/login/code"
    assert (await first.post("/login/code", {"code": code}))[1] == "/groups"
    status, path, page = await second.post("/login/code", {"code": code})
    assert (status, path) == (401, "/login/code") and "used already" in page
    assert ("login_failed", "wrong two-step login code") in await audit_actions(store_of(lea))


async def test_a_recovery_code_logs_in_once(open_browser: OpenBrowser) -> None:
    lea = open_browser()
    await password_step(lea)
    _, codes = await turn_on(lea)
    phone_lost = open_browser()
    assert await password_step(phone_lost) == "/login/code"
    status, path, page = await phone_lost.post("/login/code", {"code": codes[3].upper()})
    assert (status, path) == (200, "/account") and "recovery code" in page
    assert "Recovery codes left: 9" in page
    again = open_browser()
    await password_step(again)
    status, _, _ = await again.post("/login/code", {"code": codes[3]})
    assert status == 401
    assert ("login", "second step: recovery code") in await audit_actions(store_of(lea))


async def test_wrong_codes_are_throttled_and_the_password_does_not_reset_the_count(
    open_browser: OpenBrowser,
) -> None:
    lea = open_browser()
    await password_step(lea)
    secret, _ = await turn_on(lea)
    guesser = open_browser()
    assert await password_step(guesser) == "/login/code"
    for attempt in range(5):
        if attempt == 3:  # the right password again: the count must go on
            assert await password_step(guesser) == "/login/code"
        status, _, _ = await guesser.post("/login/code", {"code": "000000"})
        assert status == 401
    status, _, page = await guesser.post("/login/code", {"code": code_now(secret, 1)})
    assert status == 429 and "Too many attempts" in page
    assert (await guesser.try_login("lea@example.org", PASSWORD))[0] == 429


async def test_the_step_between_password_and_code_is_signed_and_short(
    open_browser: OpenBrowser,
) -> None:
    lea = open_browser()
    await password_step(lea)
    secret, _ = await turn_on(lea)
    # No password: no code form, and a code alone does nothing.
    stranger = open_browser()
    status, _ = await stranger.get("/login/code", allow_redirects=False)
    assert status == 303
    status, path, _ = await stranger.post("/login/code", {"code": code_now(secret, 1)})
    assert path == "/login"
    # Cor's password, with the step cookie changed to name Lea: refused.
    cor = open_browser()
    store = store_of(lea)
    cor_record = await store.therapist_by_email("cor@example.org")
    lea_record = await store.therapist_by_email("lea@example.org")
    assert cor_record is not None and lea_record is not None
    cor_secret, _ = await turn_on_for(cor, "cor@example.org")
    cor = open_browser()
    assert await password_step(cor, "cor@example.org") == "/login/code"
    cookie = next(c for c in cor.session.cookie_jar if c.key == "grouproom_login_step")
    forged = cookie.value.replace(cor_record.id, lea_record.id)
    cor.session.cookie_jar.clear()
    cor.session.cookie_jar.update_cookies({"grouproom_login_step": forged})
    status, path, _ = await cor.post("/login/code", {"code": code_now(secret, 1)})
    assert path == "/login"
    assert cor_secret != secret
    # Garbage in the step cookie leads back to the password, never to an error.
    for garbage in ("x", "a.b.c.d", f"{lea_record.id}.²³.code.00", "é.1.code.ü", "." * 300):
        odd = open_browser()
        odd.session.cookie_jar.update_cookies({"grouproom_login_step": garbage})
        status, path, _ = await odd.post("/login/code", {"code": "123456"})
        assert (status, path) == (200, "/login"), garbage
    # A code form from another site is refused like the password form.
    other = open_browser()
    await password_step(other)
    status, path, _ = await other.post(
        "/login/code", {"code": code_now(secret, 1)}, origin="http://evil.example"
    )
    assert path == "/login"


async def turn_on_for(browser: Browser, email: str) -> tuple[str, list[str]]:
    assert await password_step(browser, email) == "/groups"
    return await turn_on(browser)


async def test_turning_off_and_new_recovery_codes_need_a_code(open_browser: OpenBrowser) -> None:
    lea = open_browser()
    await password_step(lea)
    secret, old_codes = await turn_on(lea)
    csrf = field((await lea.get("/account"))[1], "csrf")
    status, _, page = await lea.post(
        "/account/two-factor/recovery-codes", {"csrf": csrf, "code": "123456"}
    )
    assert status == 400
    status, _, page = await lea.post(
        "/account/two-factor/recovery-codes", {"csrf": csrf, "code": code_now(secret, 1)}
    )
    new_codes = recovery_codes_on(page)
    assert status == 200 and len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    # An old recovery code no longer works; a new one does (and turns it off here).
    status, _, page = await lea.post(
        "/account/two-factor/off", {"csrf": csrf, "code": old_codes[0]}
    )
    assert status == 400 and 'data-state="on"' in page
    status, _, page = await lea.post(
        "/account/two-factor/off", {"csrf": csrf, "code": new_codes[0]}
    )
    assert status == 200 and 'data-state="off"' in page
    status, _, _ = await lea.post("/account/two-factor/off", {"csrf": "forged", "code": "1"})
    assert status == 403
    assert await password_step(open_browser()) == "/groups"
    actions = [action for action, _ in await audit_actions(store_of(lea))]
    assert "recovery_codes_renewed" in actions and "two_factor_disabled" in actions


async def test_the_secret_is_stored_sealed(open_browser: OpenBrowser) -> None:
    lea = open_browser()
    await password_step(lea)
    secret, codes = await turn_on(lea)
    async with store_of(lea).engine.connect() as connection:
        stored = (
            await connection.execute(
                text(
                    "SELECT two_factor_secret, two_factor_pending FROM therapists "
                    "WHERE email = 'lea@example.org'"
                )
            )
        ).one()
        hashes = (await connection.execute(text("SELECT code_hash FROM recovery_codes"))).all()
    assert stored.two_factor_secret.startswith("v1:") and secret not in stored.two_factor_secret
    assert stored.two_factor_pending is None
    assert len(hashes) == 10 and not {row.code_hash for row in hashes} & set(codes)


@pytest.fixture
async def required_client(
    aiohttp_client: AiohttpClient, settings: Settings
) -> TestClient[Any, Any]:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, two_factor="required")))
    store: Store = client.app[store_key]
    await store.add_therapist("lea@example.org", "Lea", hash_password(PASSWORD), NOW)
    return client


async def test_where_required_a_therapist_sets_it_up_before_reaching_a_group(
    required_client: TestClient[Any, Any],
) -> None:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        lea = Browser(required_client, session)
        store: Store = required_client.app[store_key]
        record = await store.therapist_by_email("lea@example.org")
        assert record is not None
        # A login from before it was required goes to the setup and nowhere else.
        old_token = await store.create_web_session(record.id, NOW, timedelta(hours=1))
        session.cookie_jar.update_cookies({"grouproom_login": old_token})
        async with session.get(lea.origin + "/groups", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/account/two-factor"
        session.cookie_jar.clear()

        assert await lea.login("lea@example.org", next_path="/groups") == "/login/setup"
        status, page = await lea.get("/login/setup?next=/groups")
        assert status == 200 and "asks every therapist" in page and "<svg" in page
        secret = secret_on(page)
        status, _, page = await lea.post(
            "/login/setup?next=/groups", {"csrf": "", "code": "000000"}
        )
        assert status == 400
        status, _, page = await lea.post(
            "/login/setup?next=/groups", {"csrf": "", "code": code_now(secret)}
        )
        assert status == 200 and len(recovery_codes_on(page)) == 10
        assert 'href="/groups"' in page
        assert (await lea.get("/groups"))[0] == 200
        # It cannot be turned off here.
        _, page = await lea.get("/account")
        assert 'id="turn-off-form"' not in page
        status, _, page = await lea.post(
            "/account/two-factor/off", {"csrf": field(page, "csrf"), "code": code_now(secret, 1)}
        )
        assert status == 403 and "required" in page
    finally:
        await session.close()


async def test_where_required_a_login_without_it_is_no_therapist_on_the_websocket(
    required_client: TestClient[Any, Any],
) -> None:
    store: Store = required_client.app[store_key]
    lea = await store.therapist_by_email("lea@example.org")
    assert lea is not None
    made = await store.create_group("Dinsdag", "nl", lea.id, "Regels.", NOW)
    await store.open_session(made.id, lea.id, NOW)
    token = await store.create_web_session(lea.id, NOW, timedelta(hours=1))
    cookie = {"Cookie": f"grouproom_login={token}"}
    socket = SignalingClient(await required_client.ws_connect("/ws", headers=cookie))
    assert (await socket.error("enter", {"group": made.id}))["code"] == "login_required"
    # With two-step login on, the same login is hers again.
    await store.set_two_factor_pending(lea.id, "v1:sealed")
    await store.enable_two_factor(lea.id, "v1:sealed", 1, [])
    socket = SignalingClient(await required_client.ws_connect("/ws", headers=cookie))
    entered = await socket.request("enter", {"group": made.id})
    assert entered["type"] == "entered" and entered["data"]["state"] == "seated", entered


async def test_a_therapist_changes_her_password_on_her_account_page(
    open_browser: OpenBrowser,
) -> None:
    lea, elsewhere = open_browser(), open_browser()
    assert await password_step(lea) == "/groups"
    assert await password_step(elsewhere) == "/groups"
    csrf = field((await lea.get("/account"))[1], "csrf")
    new = "a new and longer password"

    async def change(current: str, password: str, repeat: str) -> tuple[int, str]:
        status, _, page = await lea.post(
            "/account/password",
            {
                "csrf": csrf,
                "current_password": current,
                "new_password": password,
                "repeat_password": repeat,
            },
        )
        return status, page

    status, page = await change("not my password", new, new)
    assert status == 400 and "current password is not right" in page
    status, page = await change(PASSWORD, new, new + "!")
    assert status == 400 and "differ" in page
    status, page = await change(PASSWORD, "short", "short")
    assert status == 400 and "12 to 1024 characters" in page
    status, page = await change(PASSWORD, new, new)
    assert status == 200 and "Your password is changed" in page
    # This login goes on; the other one ended; the old password no longer works.
    assert (await lea.get("/groups"))[0] == 200
    assert (await elsewhere.get("/groups", allow_redirects=False))[0] == 303
    assert await password_step(open_browser()) == "/login"
    assert await open_browser().login("lea@example.org", new) == "/groups"
    actions = await audit_actions(store_of(lea))
    assert ("password_change_failed", "wrong current password") in actions
    assert ("password_changed", "") in actions
    # A wrong current password counts as a failed login: guessing it is throttled
    # (the login with the new password above cleared the earlier failures).
    for _ in range(5):
        assert (await change("guess", new, new))[0] == 400
    status, page = await change(new, "another long password", "another long password")
    assert status == 429 and "Too many attempts" in page
    status, _, _ = await lea.post(
        "/account/password",
        {"csrf": "forged", "current_password": new, "new_password": new, "repeat_password": new},
    )
    assert status == 403


async def test_a_secret_sealed_under_another_key_gets_a_clear_error(
    open_browser: OpenBrowser,
    app_client: TestClient[Any, Any],
    aiohttp_client: AiohttpClient,
    settings: Settings,
) -> None:
    # The data folder's secret key was replaced (or the database restored beside
    # another server's): no code can be checked, which the therapist is told, and
    # the operator's reset lets her in again.
    lea = open_browser()
    await password_step(lea)
    secret, _ = await turn_on(lea)
    await app_client.close()
    key_file = Path(settings.data_dir) / SECRET_FILE
    key_file.write_text(secrets.token_bytes(32).hex() + "\n")
    restarted = await aiohttp_client(create_app(settings))
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        again = Browser(restarted, session)
        assert await password_step(again) == "/login/code"
        status, _, page = await again.post("/login/code", {"code": code_now(secret, 1)})
        assert status == 500 and "Ask its operator" in page
        store: Store = restarted.app[store_key]
        record = await store.therapist_by_email("lea@example.org")
        assert record is not None
        await store.disable_two_factor(record.id)  # what `therapist reset-two-factor` does
        assert await password_step(Browser(restarted, session)) == "/groups"
    finally:
        await session.close()


async def test_the_account_page_lists_her_recent_logins_and_account_changes(
    open_browser: OpenBrowser,
) -> None:
    guesser = open_browser()
    assert await guesser.login("lea@example.org", "not her password") == "/login"
    lea = open_browser()
    await password_step(lea)
    secret, _ = await turn_on(lea)
    again = open_browser()
    await password_step(again)
    await again.post("/login/code", {"code": "000000" if code_now(secret, 1) != "000000" else "1"})
    await again.post("/login/code", {"code": code_now(secret, 1)})
    await open_browser().login("cor@example.org")  # someone else's login: not hers
    _, page = await again.get("/account")
    table = page[page.index('id="account-events"') :]
    rows = re.findall(r"<tr><td>[^<]*</td><td>(.*?)</td></tr>", table)
    assert rows == [
        'Logged in <span class="muted">with a code from the app</span>',
        'Failed login attempt <span class="muted">wrong two-step login code</span>',
        "Two-step login turned on",
        "Logged in",
        "Failed login attempt",
    ]
    # In Dutch too.
    _, page = await again.get("/account?lang=nl")
    assert "Recente activiteit" in page and "Mislukte inlogpoging" in page


async def test_a_disabled_account_cannot_log_in_nor_be_made_cotherapist(
    open_browser: OpenBrowser,
) -> None:
    lea, cor = open_browser(), open_browser()
    assert await password_step(lea) == "/groups"
    assert await password_step(cor, "cor@example.org") == "/groups"
    store = store_of(lea)
    cor_record = await store.therapist_by_email("cor@example.org")
    assert cor_record is not None
    await store.set_therapist_disabled(cor_record.id, NOW)
    # Her login of before no longer counts (the command also ends it).
    assert (await cor.get("/groups", allow_redirects=False))[0] == 303
    # The right password is told the account is disabled; a wrong one learns nothing.
    stranger = open_browser()
    status, page = await stranger.try_login("cor@example.org", "wrong")
    assert status == 401 and "disabled" not in page
    status, page = await stranger.try_login("cor@example.org", PASSWORD)
    assert status == 403 and "This account is disabled" in page
    # Lea cannot choose her as cotherapist of a new group.
    status, _, page = await lea.post(
        "/groups",
        {
            "csrf": await lea.csrf(),
            "name": "Woensdag",
            "language": "nl",
            "rules": "Regels.",
            "cotherapist_email": "cor@example.org",
        },
    )
    assert status == 400 and "no therapist with that email" in page
    assert ("login_refused", "account disabled") in await audit_actions(store)
    await store.set_therapist_disabled(cor_record.id, None)
    assert await password_step(open_browser(), "cor@example.org") == "/groups"
