"""A therapist's own account: changing the password, and two-step login (the code
asked after the password, the setup of an authenticator app at login where it is
required or on the account page, recovery codes, and turning it off).

Between the password and the code the browser holds a short-lived, signed "login
step" cookie (path /login) naming the account and what is still to do; no login
exists until both steps are done. Every wrong code counts as a failed login for
the account and the address (grouproom/accounts/login_throttle.py), and the
account's failures are cleared only when the code is right as well.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from grouproom.accounts.passwords import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PasswordError,
    hash_password,
    verify_password,
)
from grouproom.accounts.two_factor import (
    SecretBox,
    TwoFactorError,
    grouped_secret,
    looks_like_app_code,
    looks_like_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    qr_code_svg,
    recovery_code_hash,
    setup_uri,
)
from grouproom.constant_time import same_secret
from grouproom.http.client_address import client_address
from grouproom.http.csrf import Forbidden, form_token, request_is_same_origin, safe_next
from grouproom.store.records import Therapist

if TYPE_CHECKING:
    from grouproom.http.therapist_pages import TherapistPages

log = logging.getLogger(__name__)

# What the account page lists of her recent activity: audit actions and their texts.
ACCOUNT_EVENTS = {
    "login": "event_login",
    "login_failed": "event_login_failed",
    "logout": "event_logout",
    "password_changed": "event_password_changed",
    "password_change_failed": "event_password_change_failed",
    "password_set": "event_password_set",
    "two_factor_enabled": "event_two_factor_enabled",
    "two_factor_disabled": "event_two_factor_disabled",
    "two_factor_failed": "event_two_factor_failed",
    "two_factor_reset": "event_two_factor_reset",
    "login_refused": "event_login_refused",
    "therapist_disabled": "event_disabled",
    "therapist_enabled": "event_enabled",
    "recovery_codes_renewed": "event_recovery_codes_renewed",
}
EVENT_DETAILS = {
    "second step: app": "event_via_app",
    "second step: recovery code": "event_via_recovery_code",
    "second step: set up": "event_via_setup",
    "wrong two-step login code": "event_wrong_code",
}
RECENT_EVENTS = 15
STEP_COOKIE = "grouproom_login_step"
STEP_LIFETIME = 10 * 60  # seconds from the password to the code
CODE_PURPOSE = "code"
SETUP_PURPOSE = "setup"


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """A code that was right, and which kind it was (for the audit log)."""

    kind: str  # "app" or "recovery code"


class AccountPages:
    def __init__(self, pages: TherapistPages) -> None:
        self.pages = pages

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/login/code", self.code_page)
        router.add_post("/login/code", self.code)
        router.add_get("/login/setup", self.login_setup_page)
        router.add_post("/login/setup", self.login_setup)
        router.add_get("/account", self.account)
        router.add_get("/account/two-factor", self.account_setup_page)
        router.add_post("/account/two-factor", self.account_setup)
        router.add_post("/account/two-factor/off", self.turn_off)
        router.add_post("/account/two-factor/recovery-codes", self.renew_recovery_codes)
        router.add_post("/account/password", self.change_password)

    @property
    def _box(self) -> SecretBox:
        return SecretBox(self.pages.secret)

    # -- the step after the password -----------------------------------------------

    def after_password(
        self, request: web.Request, therapist: Therapist, target: str
    ) -> web.HTTPSeeOther | None:
        """Where a therapist goes after a right password when a second step follows
        (their code, or setting up an app where it is required); None: logged in."""
        if therapist.two_factor:
            purpose = CODE_PURPOSE
        elif self.pages.settings.two_factor == "required":
            purpose = SETUP_PURPOSE
        else:
            return None
        response = web.HTTPSeeOther(f"/login/{purpose}?next={quote(target, safe='')}")
        expires = int(self.pages.clock()) + STEP_LIFETIME
        response.set_cookie(
            STEP_COOKIE,
            self._step_value(therapist.id, expires, purpose),
            path="/login",
            httponly=True,
            samesite="Strict",
            secure=self.pages._secure(request),
            max_age=STEP_LIFETIME,
        )
        return response

    def _step_value(self, therapist_id: str, expires: int, purpose: str) -> str:
        payload = f"{therapist_id}.{expires}.{purpose}"
        mac = hmac.new(
            self.pages.secret, b"login step|" + payload.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return f"{payload}.{mac}"

    async def _stepping(self, request: web.Request, purpose: str) -> Therapist | None:
        """The therapist whose password was right, if the step cookie is valid."""
        value = request.cookies.get(STEP_COOKIE, "")
        parts = value.split(".")
        if len(value) > 200 or not value.isascii() or len(parts) != 4:
            return None
        therapist_id, expires_text, found_purpose, _ = parts
        if not expires_text.isdigit() or found_purpose != purpose:
            return None
        expected = self._step_value(therapist_id, int(expires_text), purpose)
        if not same_secret(expected, value) or int(expires_text) < self.pages.clock():
            return None
        therapist = await self.pages.store.therapist(therapist_id)
        if therapist is None or therapist.disabled:
            return None
        if purpose == CODE_PURPOSE and not therapist.two_factor:
            return None  # turned off (by an operator) since the password
        if purpose == SETUP_PURPOSE and therapist.two_factor:
            return None  # set up elsewhere meanwhile: log in again, with a code
        return therapist

    def _back_to_login(self, request: web.Request) -> web.HTTPSeeOther:
        response = web.HTTPSeeOther(f"/login?next={quote(self._target(request), safe='')}")
        response.del_cookie(STEP_COOKIE, path="/login")
        return response

    @staticmethod
    def _target(request: web.Request) -> str:
        return safe_next(request.query.get("next", "")) or "/groups"

    async def _finish_login(
        self, request: web.Request, response: web.StreamResponse, therapist: Therapist
    ) -> str:
        token = await self.pages.start_login(request, response, therapist)
        response.del_cookie(STEP_COOKIE, path="/login")
        await self.pages.throttle_succeeded(therapist.email)
        return token

    def _throttled(self, request: web.Request, therapist: Therapist) -> str | None:
        """The message when too many attempts were made, else None."""
        address = client_address(request, self.pages.settings.trusted_proxies)
        return self.pages.throttled_message(request, therapist.email, address)

    async def _failed_attempt(
        self,
        request: web.Request,
        therapist: Therapist,
        actor: Therapist | None,
        action: str,
        detail: str,
    ) -> None:
        """A wrong code or current password: counted in the login throttle as a
        failed login for her account and the address, and audited."""
        address = client_address(request, self.pages.settings.trusted_proxies)
        await self.pages.throttle_failed(therapist.email, address)
        await self.pages._audit(actor, action, None, therapist.id, detail)

    async def _wrong_code(self, request: web.Request, therapist: Therapist, action: str) -> str:
        # Before the login exists nobody is known to act; on her account page, she is.
        actor = None if action == "login_failed" else therapist
        await self._failed_attempt(request, therapist, actor, action, "wrong two-step login code")
        return self.pages._text(request, "code_wrong")

    async def _check_code(self, therapist: Therapist, typed: str) -> CodeCheck | None:
        """A code from the app or an unused recovery code, used up if right."""
        store = self.pages.store
        if looks_like_recovery_code(typed):
            used = await store.use_recovery_code(
                therapist.id, recovery_code_hash(typed), self.pages._now()
            )
            return CodeCheck("recovery code") if used else None
        if not looks_like_app_code(typed):
            return None
        state = await store.two_factor_state(therapist.id)
        if state.secret is None:
            return None
        secret = self._open(state.secret, therapist)
        step = matching_step(secret, typed, self.pages.clock(), state.last_step)
        if step is None or not await store.use_two_factor_step(therapist.id, step):
            return None
        return CodeCheck("app")

    def _open(self, sealed: str, therapist: Therapist) -> str:
        try:
            return self._box.open(sealed, therapist.id)
        except TwoFactorError:
            # The data folder's secret key changed (or the database was copied to
            # another server): no code can be checked until an operator resets it.
            log.error(
                "a therapist's two-step login secret cannot be opened with this server's "
                "key; `grouproom therapist reset-two-factor` turns it off"
            )
            raise web.HTTPInternalServerError(
                text="Two-step login cannot be checked on this server. Ask its operator.",
            ) from None

    async def code_page(self, request: web.Request) -> web.Response:
        therapist = await self._stepping(request, CODE_PURPOSE)
        if therapist is None:
            raise self._back_to_login(request)
        return self._code_form(request, "", 200)

    def _code_form(self, request: web.Request, message: str, status: int) -> web.Response:
        return self.pages._render(
            request,
            "login_code.html",
            status=status,
            message=message,
            next=self._target(request),
        )

    async def code(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        therapist = await self._stepping(request, CODE_PURPOSE)
        if therapist is None or not request_is_same_origin(request):
            raise self._back_to_login(request)
        throttled = self._throttled(request, therapist)
        if throttled:
            return self._code_form(request, throttled, 429)
        checked = await self._check_code(therapist, _code(form))
        if checked is None:
            message = await self._wrong_code(request, therapist, "login_failed")
            return self._code_form(request, message, 401)
        await self.pages._audit(therapist, "login", None, None, f"second step: {checked.kind}")
        target = self._target(request)
        if checked.kind == "recovery code":
            target = "/account?recovery_code_used=1"
        response = web.HTTPSeeOther(target)
        await self._finish_login(request, response, therapist)
        raise response

    # -- setting an app up -----------------------------------------------------------

    async def _pending_secret(self, therapist: Therapist) -> str:
        """The secret being set up: the one shown before (a reload shows the same QR
        code), or a new one."""
        state = await self.pages.store.two_factor_state(therapist.id)
        if state.pending is not None:
            try:
                return self._box.open(state.pending, therapist.id)
            except TwoFactorError:
                pass  # made under another key: make a new one
        secret = new_secret()
        await self.pages.store.set_two_factor_pending(
            therapist.id, self._box.seal(secret, therapist.id)
        )
        return secret

    def _setup_form(
        self,
        request: web.Request,
        therapist: Therapist,
        secret: str,
        action: str,
        csrf: str,
        message: str = "",
        status: int = 200,
        logged_in: bool = True,
    ) -> web.Response:
        texts = self.pages._text
        return self.pages._render(
            request,
            "two_factor_setup.html",
            status=status,
            therapist=therapist if logged_in else None,
            csrf=csrf,
            message=message,
            action=action,
            qr_code=qr_code_svg(setup_uri(secret, therapist.email), texts(request, "setup_qr")),
            grouped_secret=grouped_secret(secret),
            secret=secret,
            required=self.pages.settings.two_factor == "required",
        )

    async def _confirm(self, therapist: Therapist, typed: str) -> list[str] | None:
        """Turns two-step login on when `typed` is the pending secret's current code;
        the new recovery codes, or None."""
        state = await self.pages.store.two_factor_state(therapist.id)
        if state.pending is None:
            return None
        try:
            secret = self._box.open(state.pending, therapist.id)
        except TwoFactorError:
            return None
        step = matching_step(secret, typed, self.pages.clock(), None)
        if step is None:
            return None
        codes = new_recovery_codes()
        await self.pages.store.enable_two_factor(
            therapist.id, state.pending, step, [recovery_code_hash(code) for code in codes]
        )
        await self.pages._audit(therapist, "two_factor_enabled", None, therapist.id)
        return codes

    def _codes_page(
        self,
        request: web.Request,
        therapist: Therapist,
        csrf: str,
        codes: list[str],
        continue_to: str,
    ) -> web.Response:
        return self.pages._render(
            request,
            "recovery_codes.html",
            therapist=therapist,
            csrf=csrf,
            codes=codes,
            continue_to=continue_to,
        )

    async def login_setup_page(self, request: web.Request) -> web.Response:
        therapist = await self._stepping(request, SETUP_PURPOSE)
        if therapist is None:
            raise self._back_to_login(request)
        secret = await self._pending_secret(therapist)
        action = f"/login/setup?next={quote(self._target(request), safe='')}"
        return self._setup_form(request, therapist, secret, action, "", logged_in=False)

    async def login_setup(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        therapist = await self._stepping(request, SETUP_PURPOSE)
        if therapist is None or not request_is_same_origin(request):
            raise self._back_to_login(request)
        action = f"/login/setup?next={quote(self._target(request), safe='')}"
        throttled = self._throttled(request, therapist)
        codes = None if throttled else await self._confirm(therapist, _code(form))
        if codes is None:
            message = throttled or await self._wrong_code(request, therapist, "login_failed")
            secret = await self._pending_secret(therapist)
            return self._setup_form(
                request, therapist, secret, action, "", message, 429 if throttled else 400, False
            )
        await self.pages._audit(therapist, "login", None, None, "second step: set up")
        response = web.Response()  # the cookies, copied onto the page below
        token = await self._finish_login(request, response, therapist)
        page = self._codes_page(
            request,
            therapist,
            form_token(self.pages.secret, token),
            codes,
            self._target(request),
        )
        for name, cookie in response.cookies.items():
            page.cookies[name] = cookie
        return page

    # -- the account page ------------------------------------------------------------

    async def account(self, request: web.Request) -> web.Response:
        therapist, token = await self.pages._require_login(request, setting_up=True)
        message = ""
        if request.query.get("recovery_code_used"):
            message = self.pages._text(request, "recovery_code_used")
        return await self._account_page(request, therapist, token, message)

    async def _account_page(
        self,
        request: web.Request,
        therapist: Therapist,
        token: str,
        message: str = "",
        status: int = 200,
    ) -> web.Response:
        state = await self.pages.store.two_factor_state(therapist.id)
        texts = self.pages._text
        events = [
            (
                entry.at,
                texts(request, ACCOUNT_EVENTS[entry.action]),
                texts(request, EVENT_DETAILS[entry.detail])
                if entry.detail in EVENT_DETAILS
                else "",
            )
            for entry in await self.pages.store.account_events(
                therapist.id, list(ACCOUNT_EVENTS), RECENT_EVENTS
            )
        ]
        return self.pages._render(
            request,
            "account.html",
            events=events,
            status=status,
            therapist=therapist,
            csrf=form_token(self.pages.secret, token),
            message=message,
            two_factor=state.secret is not None,
            codes_left=state.recovery_codes_left,
            required=self.pages.settings.two_factor == "required",
        )

    async def change_password(self, request: web.Request) -> web.Response:
        """A new password, given the current one. A wrong current password counts as
        a failed login (someone at an unattended, logged-in computer must not get to
        guess it); the therapist's other logins end."""
        therapist, token, form = await self._account_form(request)
        text = self.pages._text
        throttled = self._throttled(request, therapist)
        if throttled:
            return await self._account_page(request, therapist, token, throttled, 429)
        current = str(form.get("current_password", ""))
        new = str(form.get("new_password", ""))
        if not await asyncio.to_thread(verify_password, therapist.password_hash, current):
            await self._failed_attempt(
                request, therapist, None, "password_change_failed", "wrong current password"
            )
            message = text(request, "password_wrong")
            return await self._account_page(request, therapist, token, message, 400)
        if new != str(form.get("repeat_password", "")):
            message = text(request, "passwords_differ")
            return await self._account_page(request, therapist, token, message, 400)
        try:
            new_hash = await asyncio.to_thread(hash_password, new)
        except PasswordError:
            message = text(
                request, "password_rule", low=PASSWORD_MIN_LENGTH, high=PASSWORD_MAX_LENGTH
            )
            return await self._account_page(request, therapist, token, message, 400)
        await self.pages.store.set_password_hash(therapist.id, new_hash)
        await self.pages.store.end_web_sessions_of(therapist.id, keep_token=token)
        self.pages.logins_ended(therapist.id)
        await self.pages._audit(therapist, "password_changed", None, therapist.id)
        updated = await self.pages.store.therapist(therapist.id) or therapist
        return await self._account_page(request, updated, token, text(request, "password_changed"))

    async def account_setup_page(self, request: web.Request) -> web.Response:
        therapist, token = await self.pages._require_login(request, setting_up=True)
        if therapist.two_factor:
            raise web.HTTPSeeOther("/account")
        secret = await self._pending_secret(therapist)
        csrf = form_token(self.pages.secret, token)
        return self._setup_form(request, therapist, secret, "/account/two-factor", csrf)

    async def account_setup(self, request: web.Request) -> web.Response:
        therapist, token, form = await self._account_form(request)
        if therapist.two_factor:
            raise web.HTTPSeeOther("/account")
        csrf = form_token(self.pages.secret, token)
        throttled = self._throttled(request, therapist)
        codes = None if throttled else await self._confirm(therapist, _code(form))
        if codes is None:
            message = throttled or await self._wrong_code(request, therapist, "two_factor_failed")
            secret = await self._pending_secret(therapist)
            return self._setup_form(
                request, therapist, secret, "/account/two-factor", csrf, message, 400
            )
        # Logins made with the password alone end; this one goes on.
        await self.pages.store.end_web_sessions_of(therapist.id, keep_token=token)
        self.pages.logins_ended(therapist.id)
        return self._codes_page(request, therapist, csrf, codes, "/account")

    async def _account_form(self, request: web.Request) -> tuple[Therapist, str, dict[str, Any]]:
        therapist, token = await self.pages._require_login(request, setting_up=True)
        try:
            form = await self.pages._form(request, token)
        except Forbidden:
            page = self.pages._forbidden(request)
            raise web.HTTPForbidden(
                text=page.text, content_type="text/html", headers={"Cache-Control": "no-store"}
            ) from None
        return therapist, token, dict(form)

    async def _checked_on_account(
        self, request: web.Request, therapist: Therapist, form: dict[str, Any]
    ) -> str | None:
        """None when the typed code is right; else the message to show."""
        throttled = self._throttled(request, therapist)
        if throttled:
            return throttled
        if await self._check_code(therapist, _code(form)) is None:
            return await self._wrong_code(request, therapist, "two_factor_failed")
        return None

    async def turn_off(self, request: web.Request) -> web.Response:
        therapist, token, form = await self._account_form(request)
        if not therapist.two_factor:
            raise web.HTTPSeeOther("/account")
        if self.pages.settings.two_factor == "required":
            message = self.pages._text(request, "two_factor_required_here")
            return await self._account_page(request, therapist, token, message, 403)
        problem = await self._checked_on_account(request, therapist, form)
        if problem:
            return await self._account_page(request, therapist, token, problem, 400)
        await self.pages.store.disable_two_factor(therapist.id)
        await self.pages._audit(therapist, "two_factor_disabled", None, therapist.id)
        updated = await self.pages.store.therapist(therapist.id) or therapist
        message = self.pages._text(request, "two_factor_turned_off")
        return await self._account_page(request, updated, token, message)

    async def renew_recovery_codes(self, request: web.Request) -> web.Response:
        therapist, token, form = await self._account_form(request)
        if not therapist.two_factor:
            raise web.HTTPSeeOther("/account")
        problem = await self._checked_on_account(request, therapist, form)
        if problem:
            return await self._account_page(request, therapist, token, problem, 400)
        codes = new_recovery_codes()
        await self.pages.store.replace_recovery_codes(
            therapist.id, [recovery_code_hash(code) for code in codes]
        )
        await self.pages._audit(therapist, "recovery_codes_renewed", None, therapist.id)
        csrf = form_token(self.pages.secret, token)
        return self._codes_page(request, therapist, csrf, codes, "/account")


def _code(form: Any) -> str:
    return str(form.get("code", ""))[:40]
