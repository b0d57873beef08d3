"""The therapists' pages: login, groups, roster and invite links, ground rules,
session plan, settings, sessions, attendance (with CSV export), the audit log, and
the export and deletion of one member's data (GDPR).

Every page needs a login (a server-side session behind an HttpOnly, SameSite=Strict
cookie); every form carries a CSRF token and must come from this server's origin.
A therapist sees only the groups they lead or co-lead; anything else is "not
found". Every view or change of a group's data is written to the audit log.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import hmac
import io
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

from grouproom.accounts.login_throttle import ACCOUNT, ADDRESS, LoginThrottle
from grouproom.accounts.passwords import hash_password, needs_rehash, verify_password
from grouproom.constant_time import same_secret
from grouproom.http.account_pages import AccountPages
from grouproom.http.client_address import client_address
from grouproom.http.csrf import (
    Forbidden,
    form_token,
    form_token_matches,
    request_is_same_origin,
    safe_next,
)
from grouproom.http.texts import LANGUAGES, TEXTS, choose_language
from grouproom.rooms.ground_rules import RulesError
from grouproom.rooms.invites import InviteClaims, make_invite
from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import Phase, PhaseKind, PlanError, SessionPlan
from grouproom.settings import Settings
from grouproom.store.records import AttendanceEntry, AuditEntry, Group, RosterEntry, Therapist
from grouproom.store.store import Store, StoreError

LOGIN_COOKIE = "grouproom_login"
NONCE_COOKIE = "grouproom_login_nonce"
LANGUAGE_COOKIE = "grouproom_lang"
LOGIN_LIFETIME = timedelta(hours=12)
LOGIN_IDLE_LIMIT = timedelta(hours=3)
EMPTY_PLAN_ROWS = 3
AUDIT_PAGE = 100
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TherapistPages:
    def __init__(
        self,
        settings: Settings,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store: Store | None = None
        self.secret = b""
        # Told when a therapist closes a session here, so the room ends it too.
        self.session_closed: Callable[[str, str], Awaitable[None]] | None = None
        # Told the therapist's id when one of her logins was ended here, so that her
        # open sockets check theirs at once.
        self.logins_ended: Callable[[str], None] = lambda therapist_id: None
        # Who waits for a group's session to open, and since when (the session hub).
        self.early_arrivals: Callable[[str], list[tuple[str, datetime]]] = lambda group_id: []
        self.settings = settings
        self.throttle = throttle or LoginThrottle()
        self.clock = clock
        try:
            self.zone: ZoneInfo | None = ZoneInfo(settings.timezone)
        except ZoneInfoNotFoundError:
            self.zone = None
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("grouproom.http", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["clock"] = self._clock
        self.account = AccountPages(self)

    async def attach(self, store: Store, secret: bytes) -> None:
        """The store and the secret key, once they are open (at start-up), and the
        failed logins saved before a restart."""
        self._store = store
        self.secret = secret
        since = datetime.fromtimestamp(self.clock() - self.throttle.window, UTC)
        for kind, key, at in await store.login_failures_since(since):
            self.throttle.restore(kind, key, at.timestamp())

    # -- the login throttle, kept in memory and in the store ----------------------------

    def _throttle_key(self, kind: str, value: str) -> str:
        """An account's or address's key in the throttle: an HMAC, so that the store
        keeps no email or IP address of a failed attempt."""
        message = f"login throttle|{kind}|{value}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def throttled_message(self, request: web.Request, email: str, address: str) -> str | None:
        """What to tell someone who tried too often to log in as `email` from
        `address` (how many minutes to wait), or None when they may try now."""
        wait = self.throttle.retry_after(
            self._throttle_key(ACCOUNT, email.strip().lower()),
            self._throttle_key(ADDRESS, address),
            self.clock(),
        )
        if wait is None:
            return None
        return self._text(request, "login_throttled", minutes=max(1, int(wait // 60) + 1))

    async def throttle_failed(self, email: str, address: str) -> None:
        account = self._throttle_key(ACCOUNT, email.strip().lower())
        source = self._throttle_key(ADDRESS, address)
        now = self.clock()
        self.throttle.failed(account, source, now)
        await self.store.record_login_failure(
            [(ACCOUNT, account), (ADDRESS, source)],
            datetime.fromtimestamp(now, UTC),
            datetime.fromtimestamp(now - self.throttle.window, UTC),
        )

    async def throttle_succeeded(self, email: str) -> None:
        account = self._throttle_key(ACCOUNT, email.strip().lower())
        self.throttle.succeeded(account)
        await self.store.clear_login_failures(ACCOUNT, account)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the therapists' pages have no store yet")
        return self._store

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/login", self.login_page)
        router.add_get("/login/state", self.login_state_now)
        router.add_get("/privacy", self.privacy)
        router.add_post("/login", self.login)
        router.add_post("/logout", self.logout)
        router.add_get("/groups", self.groups)
        router.add_post("/groups", self.create_group)
        router.add_get("/groups/{group}", self.group)
        router.add_post("/groups/{group}/roster", self.add_member)
        router.add_post("/groups/{group}/roster/{member}/revoke", self.revoke_invite)
        router.add_post("/groups/{group}/roster/{member}/archive", self.archive_member)
        router.add_get("/groups/{group}/roster/{member}/data", self.export_member)
        router.add_get("/groups/{group}/roster/{member}/erase", self.erase_member_page)
        router.add_post("/groups/{group}/roster/{member}/erase", self.erase_member)
        router.add_post("/groups/{group}/rules", self.revise_rules)
        router.add_post("/groups/{group}/plan", self.set_plan)
        router.add_post("/groups/{group}/settings", self.update_settings)
        router.add_post("/groups/{group}/sessions", self.open_session)
        router.add_post("/groups/{group}/sessions/{session}/close", self.close_session)
        router.add_get("/groups/{group}/attendance", self.attendance)
        router.add_get("/groups/{group}/sessions/{session}/attendance", self.attendance)
        router.add_get("/groups/{group}/audit", self.audit)
        router.add_get("/groups/{group}/room", self.room)
        router.add_get("/groups/{group}/early-arrivals", self.early_arrivals_now)
        self.account.add_routes(router)

    # -- rendering -----------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _clock(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        if self.zone is not None:
            return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        return moment.strftime("%Y-%m-%d %H:%M UTC")

    def _language(self, request: web.Request) -> str:
        chosen = request.query.get("lang")
        if chosen in LANGUAGES:
            return str(chosen)
        return choose_language(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("Accept-Language")
        )

    def _render(
        self,
        request: web.Request,
        template: str,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        lang = self._language(request)
        context.setdefault("therapist", None)
        context.setdefault("csrf", "")
        context.setdefault("message", "")
        # Where a page that leaves because its login ended comes back to after the
        # login (login-ended.js): itself, unless it answered a form.
        context.setdefault("login_next", request.path_qs if request.method == "GET" else "")
        text = self.templates.get_template(template).render(lang=lang, t=TEXTS[lang], **context)
        response = web.Response(
            status=status,
            text=text,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )
        if request.query.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                lang,
                max_age=365 * 86400,
                samesite="Lax",
                httponly=True,
                secure=self._secure(request),
            )
        return response

    def _text(self, request: web.Request, key: str, **values: object) -> str:
        return TEXTS[self._language(request)][key].format(**values)

    # -- login ---------------------------------------------------------------------

    def _secure(self, request: web.Request) -> bool:
        return (
            request.secure
            or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
            or self.settings.public_url.startswith("https://")
        )

    async def _logged_in(
        self, request: web.Request, note_use: bool = True
    ) -> tuple[Therapist, str] | None:
        return await logged_in(self.store, request, self._now(), note_use)

    async def _require_login(
        self, request: web.Request, setting_up: bool = False, note_use: bool = True
    ) -> tuple[Therapist, str]:
        """The therapist logged in, or a redirect to the login page. `note_use`
        false: the request does not keep the login from idling out (a page's
        script asking by itself, not the therapist doing something)."""
        found = await self._logged_in(request, note_use)
        if found is None:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        therapist, _ = found
        if self.settings.two_factor == "required" and not therapist.two_factor and not setting_up:
            # Logged in before two-step login was required, or reset by an operator:
            # nothing but setting it up (or logging out) until it is on.
            raise web.HTTPSeeOther("/account/two-factor")
        return found

    async def _form(self, request: web.Request, login_token: str) -> Mapping[str, str]:
        """The posted form, after the origin and CSRF checks."""
        form = await request.post()
        if not request_is_same_origin(request):
            raise Forbidden()
        submitted = form.get("csrf")
        if not isinstance(submitted, str) or not form_token_matches(
            self.secret, login_token, submitted
        ):
            raise Forbidden()
        return {key: value for key, value in form.items() if isinstance(value, str)}

    def _forbidden(self, request: web.Request) -> web.Response:
        return self._render(
            request, "error.html", status=403, message=self._text(request, "form_expired")
        )

    async def login_page(self, request: web.Request) -> web.Response:
        if await self._logged_in(request) is not None:
            raise web.HTTPSeeOther("/groups")
        # A page that left the screen because its login ended says why.
        ended = self._text(request, "login_ended") if request.query.get("ended") == "1" else ""
        return self._login_form(request, "", ended, 200)

    async def privacy(self, request: web.Request) -> web.Response:
        """What is kept about a member and for how long, who answers for it and her
        rights (GDPR article 13), for anyone: the way in links to it."""
        return self._render(
            request,
            "privacy.html",
            contact=self.settings.privacy_contact,
            statement_url=self.settings.privacy_url,
            retention_days=self.settings.retention_days,
        )

    async def login_state_now(self, request: web.Request) -> web.Response:
        """Whether the login of the request's cookie still stands, for the script of
        every page shown to a logged-in therapist (login-ended.js), which leaves the
        page for the login page once it has ended: the group's names and invite links
        do not stay on a shared screen. Asking is not use of the login."""
        found = await self._logged_in(request, note_use=False)
        return web.json_response(
            {"logged_in": found is not None}, headers={"Cache-Control": "no-store"}
        )

    def _login_form(
        self, request: web.Request, email: str, message: str, status: int
    ) -> web.Response:
        nonce = secrets.token_urlsafe(24)
        response = self._render(
            request,
            "login.html",
            status=status,
            login_nonce=nonce,
            next=safe_next(request.query.get("next", "")),
            email=email,
            message=message,
        )
        response.set_cookie(
            NONCE_COOKIE,
            nonce,
            path="/login",
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
            max_age=3600,
        )
        return response

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        email = str(form.get("email", ""))[:254].strip()
        password = str(form.get("password", ""))
        nonce = str(form.get("login_nonce", ""))
        cookie_nonce = request.cookies.get(NONCE_COOKIE, "")
        if not request_is_same_origin(request) or not nonce or not same_secret(cookie_nonce, nonce):
            return self._login_form(request, email, self._text(request, "form_expired"), 403)
        address = client_address(request, self.settings.trusted_proxies)
        throttled = self.throttled_message(request, email, address)
        if throttled is not None:
            return self._login_form(request, email, throttled, 429)
        therapist = await self.store.therapist_by_email(email) if email else None
        valid = await asyncio.to_thread(
            _verify_or_equalise, therapist.password_hash if therapist else None, password
        )
        if therapist is None or not valid:
            await self.throttle_failed(email, address)
            # The account's id, never the typed text (it may be anything, a name too).
            await self._audit(
                None,
                "login_failed",
                None,
                therapist.id if therapist else None,
                "" if therapist else "unknown email address",
            )
            return self._login_form(request, email, self._text(request, "login_failed"), 401)
        if therapist.disabled:
            # Said only after the right password, so it tells nobody else the account exists.
            await self._audit(None, "login_refused", None, therapist.id, "account disabled")
            message = self._text(request, "account_disabled")
            return self._login_form(request, email, message, 403)
        if needs_rehash(therapist.password_hash):
            await self.store.set_password_hash(therapist.id, hash_password(password))
        target = safe_next(str(form.get("next", ""))) or "/groups"
        second_step = self.account.after_password(request, therapist, target)
        if second_step is not None:
            # The account's failures are cleared only once the code is right too:
            # the password alone must not reset the count of wrong codes.
            second_step.del_cookie(NONCE_COOKIE, path="/login")
            raise second_step
        await self.throttle_succeeded(email)
        await self._audit(therapist, "login", None, None)
        response = web.HTTPSeeOther(target)
        await self.start_login(request, response, therapist)
        response.del_cookie(NONCE_COOKIE, path="/login")
        raise response

    async def start_login(
        self, request: web.Request, response: web.StreamResponse, therapist: Therapist
    ) -> str:
        """A new login for the therapist: its cookie set on `response`; the token."""
        token = await self.store.create_web_session(therapist.id, self._now(), LOGIN_LIFETIME)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
            max_age=int(LOGIN_LIFETIME.total_seconds()),
        )
        return token

    async def logout(self, request: web.Request) -> web.Response:
        therapist, token = await self._require_login(request, setting_up=True)
        try:
            await self._form(request, token)
        except Forbidden:
            return self._forbidden(request)
        await self.store.end_web_session(token)
        self.logins_ended(therapist.id)
        await self._audit(therapist, "logout", None, None)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(LOGIN_COOKIE)
        raise response

    # -- groups --------------------------------------------------------------------

    async def groups(self, request: web.Request) -> web.Response:
        therapist, token = await self._require_login(request)
        return await self._groups_page(request, therapist, token)

    async def _groups_page(
        self,
        request: web.Request,
        therapist: Therapist,
        token: str,
        message: str = "",
        status: int = 200,
    ) -> web.Response:
        return self._render(
            request,
            "groups.html",
            status=status,
            therapist=therapist,
            csrf=form_token(self.secret, token),
            groups=await self.store.groups_of(therapist.id),
            message=message,
        )

    async def create_group(self, request: web.Request) -> web.Response:
        therapist, token = await self._require_login(request)
        try:
            form = await self._form(request, token)
        except Forbidden:
            return self._forbidden(request)
        cotherapist_id, problem = await self._cotherapist(request, form, therapist)
        if problem:
            return await self._groups_page(request, therapist, token, problem, 400)
        try:
            group = await self.store.create_group(
                form.get("name", ""),
                form.get("language", ""),
                therapist.id,
                form.get("rules", ""),
                self._now(),
                cotherapist_id=cotherapist_id,
            )
        except (StoreError, RulesError) as exc:
            message = self._text(request, "invalid_input", problem=exc)
            return await self._groups_page(request, therapist, token, message, 400)
        await self._audit(therapist, "create_group", group.id, group.name)
        raise web.HTTPSeeOther(f"/groups/{group.id}")

    async def _cotherapist(
        self, request: web.Request, form: Mapping[str, str], therapist: Therapist
    ) -> tuple[str | None, str]:
        email = form.get("cotherapist_email", "").strip()
        if not email:
            return None, ""
        cotherapist = await self.store.therapist_by_email(email)
        if cotherapist is None or cotherapist.id == therapist.id or cotherapist.disabled:
            return None, self._text(request, "unknown_cotherapist")
        return cotherapist.id, ""

    async def _group_of(self, request: web.Request, therapist: Therapist) -> Group:
        group = await self.store.group(request.match_info["group"])
        if group is None or group.therapist_role(therapist.id) is None:
            raise web.HTTPNotFound(
                text=self._render(request, "error.html", therapist=therapist).text,
                content_type="text/html",
            )
        return group

    def _invite_link(self, request: web.Request, group: Group, member_id: str, serial: int) -> str:
        expires = int(self.clock()) + self.settings.invite_days * 86400
        token = make_invite(self.secret, InviteClaims(group.id, member_id, serial, expires))
        base = self.settings.public_url.rstrip("/")
        if not base:
            scheme = "https" if self._secure(request) else "http"
            base = f"{scheme}://{request.host}"
        return f"{base}/join/{token}"

    async def group(self, request: web.Request) -> web.Response:
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        await self._audit(therapist, "view_group", group.id, None)
        message = self._text(request, "erase_done") if request.query.get("erased") else ""
        return await self._group_page(request, therapist, token, group, message)

    async def _group_page(
        self,
        request: web.Request,
        therapist: Therapist,
        token: str,
        group: Group,
        message: str = "",
        status: int = 200,
    ) -> web.Response:
        roster = []
        for entry in await self.store.roster_of(group.id):
            link = self._invite_link(request, group, entry.id, entry.invite_serial)
            roster.append((entry, link, invitation(group, entry, link, therapist)))
        plan = await self.store.plan_of(group.id)
        sessions = await self.store.sessions_of(group.id)
        lead = await self.store.therapist(group.lead_therapist_id)
        cotherapist = (
            await self.store.therapist(group.cotherapist_id) if group.cotherapist_id else None
        )
        return self._render(
            request,
            "group.html",
            status=status,
            therapist=therapist,
            csrf=form_token(self.secret, token),
            group=group,
            lead=lead,
            cotherapist=cotherapist,
            roster=roster,
            former=await self.store.archived_of(group.id),
            rules=await self.store.rules_history(group.id),
            plan_rows=[*plan.phases, *([None] * EMPTY_PLAN_ROWS)],
            kinds=list(PhaseKind),
            sessions=sessions,
            open_session=next((s for s in sessions if s.is_open), None),
            early_arrivals=self._early_arrivals_line(request, group.id),
            message=message,
        )

    def _early_arrivals_line(self, request: web.Request, group_id: str) -> str:
        """'Already waiting for the session to open: Ann (since ...), Bob (since ...)',
        or "" when nobody waits."""
        waiting = self.early_arrivals(group_id)
        if not waiting:
            return ""
        people = ", ".join(
            f"{name} ({self._text(request, 'since', time=self._clock(since))})"
            for name, since in waiting
        )
        return f"{self._text(request, 'early_arrivals')}: {people}"

    async def early_arrivals_now(self, request: web.Request) -> web.Response:
        """The group page's line of who waits for the session to open, for its script
        (every 10 s while the page is open and no session is), and whether a session
        is open now (the other therapist opened it: the page shows it). Not audited:
        it shows the first names of members of a group whose page view was audited.
        Nor does it count as the therapist's activity: a group page left open would
        otherwise keep her login from idling out for as long as it asks."""
        therapist, _ = await self._require_login(request, note_use=False)
        group = await self._group_of(request, therapist)
        return web.json_response(
            {
                "line": self._early_arrivals_line(request, group.id),
                "session_open": await self.store.open_session_of(group.id) is not None,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _group_change(
        self, request: web.Request
    ) -> tuple[Therapist, str, Group, Mapping[str, str]]:
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        form = await self._form(request, token)
        return therapist, token, group, form

    async def _changed(
        self,
        request: web.Request,
        change: Callable[[Therapist, Group, Mapping[str, str]], Any],
    ) -> web.Response:
        """Run a change to a group: on success back to the group page (POST, redirect,
        GET); a refused change shows the page again with the reason."""
        try:
            therapist, token, group, form = await self._group_change(request)
        except Forbidden:
            return self._forbidden(request)
        try:
            await change(therapist, group, form)
        except (StoreError, RulesError, PlanError, ValueError) as exc:
            message = self._text(request, "invalid_input", problem=exc)
            refreshed = await self.store.group(group.id) or group
            return await self._group_page(request, therapist, token, refreshed, message, 400)
        raise web.HTTPSeeOther(f"/groups/{group.id}")

    async def add_member(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            role = Role.OBSERVER if form.get("role") == "observer" else Role.MEMBER
            entry = await self.store.add_to_roster(
                group.id, form.get("display_name", ""), role, self._now()
            )
            await self._audit(therapist, "add_to_roster", group.id, entry.id, role)

        return await self._changed(request, change)

    async def _roster_entry_of(self, request: web.Request, group: Group) -> str:
        entry = await self.store.roster_entry(request.match_info["member"])
        if entry is None or entry.group_id != group.id:
            raise StoreError("unknown roster entry")
        return entry.id

    async def revoke_invite(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            entry_id = await self._roster_entry_of(request, group)
            serial = await self.store.revoke_invite(entry_id)
            await self._audit(therapist, "revoke_invite", group.id, entry_id, f"serial {serial}")

        return await self._changed(request, change)

    async def archive_member(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            entry_id = await self._roster_entry_of(request, group)
            await self.store.archive_roster_entry(entry_id, self._now())
            await self._audit(therapist, "take_off_roster", group.id, entry_id)

        return await self._changed(request, change)

    # -- a member's own data (GDPR) ------------------------------------------------

    async def _member_of(
        self, request: web.Request, therapist: Therapist, group: Group
    ) -> RosterEntry:
        """The roster entry (archived or not) in the URL, of this group; else 404."""
        entry = await self.store.roster_entry(request.match_info["member"], include_archived=True)
        if entry is None or entry.group_id != group.id:
            raise web.HTTPNotFound(
                text=self._render(request, "error.html", therapist=therapist).text,
                content_type="text/html",
            )
        return entry

    async def export_member(self, request: web.Request) -> web.Response:
        """Everything stored about one member, as a JSON download."""
        therapist, _ = await self._require_login(request)
        group = await self._group_of(request, therapist)
        entry = await self._member_of(request, therapist, group)
        await self._audit(therapist, "export_member_data", group.id, entry.id)
        document = await self.store.member_data(entry.id)
        body = json.dumps(document, ensure_ascii=False, indent=2)
        return _download(body, "application/json", f"member-{entry.id}.json")

    async def erase_member_page(self, request: web.Request) -> web.Response:
        """The confirmation step before a member's data is deleted."""
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        entry = await self._member_of(request, therapist, group)
        return self._erase_page(request, therapist, token, group, entry)

    def _erase_page(
        self,
        request: web.Request,
        therapist: Therapist,
        token: str,
        group: Group,
        entry: RosterEntry,
        message: str = "",
        status: int = 200,
    ) -> web.Response:
        return self._render(
            request,
            "erase.html",
            status=status,
            therapist=therapist,
            csrf=form_token(self.secret, token),
            group=group,
            entry=entry,
            message=message,
        )

    async def erase_member(self, request: web.Request) -> web.Response:
        """Delete a member's data: only with the form's token and its confirmation."""
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        try:
            form = await self._form(request, token)
        except Forbidden:
            return self._forbidden(request)
        entry = await self._member_of(request, therapist, group)
        if form.get("confirm") != "yes":
            message = self._text(request, "erase_unconfirmed")
            return self._erase_page(request, therapist, token, group, entry, message, 400)
        counts = await self.store.erase_member(entry.id)
        await self._audit(
            therapist,
            "erase_member_data",
            group.id,
            entry.id,
            f"{counts.acceptances_deleted} rule acceptances deleted, "
            f"{counts.attendance_anonymised} attendance rows anonymised",
        )
        raise web.HTTPSeeOther(f"/groups/{group.id}?erased=1")

    async def revise_rules(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            rules = await self.store.revise_rules(
                group.id,
                form.get("text", "").replace("\r\n", "\n"),
                "chat_enabled" in form,
                therapist.id,
                self._now(),
            )
            await self._audit(therapist, "revise_rules", group.id, f"version {rules.version}")

        return await self._changed(request, change)

    async def set_plan(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            posted = await request.post()
            names = [str(v) for v in posted.getall("phase_name", [])]
            kinds = [str(v) for v in posted.getall("phase_kind", [])]
            minutes = [str(v) for v in posted.getall("phase_minutes", [])]
            phases = []
            for name, kind, length in zip(names, kinds, minutes, strict=False):
                if not name.strip():
                    continue
                try:
                    phases.append(Phase(name.strip(), PhaseKind(kind), int(length)))
                except ValueError as exc:
                    raise PlanError(f"{name.strip()}: {exc}") from None
            plan = SessionPlan(tuple(phases))
            await self.store.set_plan(group.id, plan)
            summary = ", ".join(f"{p.name} {p.minutes}" for p in plan.phases)
            await self._audit(therapist, "set_plan", group.id, None, summary)

        return await self._changed(request, change)

    async def update_settings(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            if group.therapist_role(therapist.id) is not Role.LEAD_THERAPIST and (
                form.get("cotherapist_email", "").strip().lower()
                != await self._email_of(group.cotherapist_id)
            ):
                raise StoreError("only the lead therapist changes the cotherapist")
            lead = await self.store.therapist(group.lead_therapist_id)
            assert lead is not None
            cotherapist_id, problem = await self._cotherapist(request, form, lead)
            if problem:
                raise StoreError(problem)
            schedule = form.get("schedule")
            updated = await self.store.update_group(
                group.id,
                cotherapist_id=cotherapist_id,
                auto_admit="auto_admit" in form,
                round_mutes_others="round_mutes_others" in form,
                schedule=schedule,
            )
            # Whether the schedule changed, not what it says (no typed text in the log).
            await self._audit(
                therapist,
                "update_settings",
                group.id,
                None,
                f"auto_admit={'auto_admit' in form} "
                f"round_mutes_others={'round_mutes_others' in form} "
                f"cotherapist={cotherapist_id or '-'} "
                f"schedule_changed={updated.schedule != group.schedule}",
            )

        return await self._changed(request, change)

    async def _email_of(self, therapist_id: str | None) -> str:
        if therapist_id is None:
            return ""
        therapist = await self.store.therapist(therapist_id)
        return therapist.email if therapist else ""

    async def open_session(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            session = await self.store.open_session(group.id, therapist.id, self._now())
            await self._audit(therapist, "open_session", group.id, session.id)

        return await self._changed(request, change)

    async def close_session(self, request: web.Request) -> web.Response:
        async def change(therapist: Therapist, group: Group, form: Mapping[str, str]) -> None:
            session = await self.store.session(request.match_info["session"])
            if session is None or session.group_id != group.id:
                raise StoreError("unknown session")
            await self.store.close_session(session.id, therapist.id, self._now())
            await self._audit(therapist, "close_session", group.id, session.id)
            if self.session_closed is not None:
                await self.session_closed(session.id, therapist.id)

        return await self._changed(request, change)

    async def room(self, request: web.Request) -> web.StreamResponse:
        """The session page for the group's therapists (their login cookie comes
        with the WebSocket)."""
        therapist, _ = await self._require_login(request)
        group = await self._group_of(request, therapist)
        await self._audit(therapist, "enter_room", group.id, None)
        page = Path(self.settings.web_root) / "session.html"
        if not page.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    # -- records -------------------------------------------------------------------

    async def attendance(self, request: web.Request) -> web.StreamResponse:
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        session_id = request.match_info.get("session")
        if session_id is None:
            entries = await self.store.attendance_of_group(group.id)
        else:
            session = await self.store.session(session_id)
            if session is None or session.group_id != group.id:
                raise web.HTTPNotFound()
            entries = await self.store.attendance_of_session(session_id)
        if request.query.get("format") == "csv":
            await self._audit(therapist, "export_attendance", group.id, session_id)
            return self._attendance_csv(entries, group)
        await self._audit(therapist, "view_attendance", group.id, session_id)
        return self._render(
            request,
            "attendance.html",
            therapist=therapist,
            csrf=form_token(self.secret, token),
            group=group,
            entries=entries,
            csv_url=f"{request.path}?format=csv",
        )

    def _attendance_csv(self, entries: list[AttendanceEntry], group: Group) -> web.Response:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["session", "time", "name", "role", "event", "cause"])
        for entry in entries:
            writer.writerow(
                [
                    entry.session_id,
                    entry.at.isoformat(),
                    _csv_safe(entry.display_name or ""),
                    entry.role.value,
                    "joined" if entry.joined else "left",
                    entry.cause or "",
                ]
            )
        return _download(buffer.getvalue(), "text/csv", f"attendance-{group.id}.csv")

    async def audit(self, request: web.Request) -> web.Response:
        therapist, token = await self._require_login(request)
        group = await self._group_of(request, therapist)
        before = request.query.get("before", "")
        # An entry id: ASCII digits that fit the database's integer, else the newest page.
        wellformed = before.isascii() and before.isdigit() and len(before) <= 18
        before_id = int(before) if wellformed else None
        await self._audit(therapist, "view_audit", group.id, None)
        entries = await self.store.audit_of_group(group.id, AUDIT_PAGE, before_id)
        names = await self._names(group)
        older_url = None
        if len(entries) == AUDIT_PAGE and entries[-1].id is not None:
            older_url = f"/groups/{group.id}/audit?before={entries[-1].id}"
        return self._render(
            request,
            "audit.html",
            therapist=therapist,
            csrf=form_token(self.secret, token),
            group=group,
            entries=[
                (
                    entry,
                    names.get(entry.actor_id, entry.actor_id),
                    names.get(entry.subject or "", entry.subject or ""),
                )
                for entry in entries
            ],
            older_url=older_url,
        )

    async def _names(self, group: Group) -> dict[str, str]:
        """Names for the ids in the group's audit log (a deleted member stays an id)."""
        roster = await self.store.roster_of(group.id, include_archived=True)
        names = {entry.id: entry.display_name for entry in roster}
        for therapist_id in (group.lead_therapist_id, group.cotherapist_id):
            if therapist_id:
                found = await self.store.therapist(therapist_id)
                if found:
                    names[found.id] = found.display_name
        return names

    async def _audit(
        self,
        therapist: Therapist | None,
        action: str,
        group_id: str | None,
        subject: str | None,
        detail: str = "",
    ) -> None:
        await self.store.append_audit(
            AuditEntry(
                self._now(),
                therapist.id if therapist else "-",
                "therapist" if therapist else "anonymous",
                action,
                subject[:120] if subject else None,
                group_id,
                detail,
            )
        )


async def logged_in(
    store: Store, request: web.Request, now: datetime, note_use: bool = True
) -> tuple[Therapist, str] | None:
    """The therapist whose login cookie came with the request, and the login token
    (its use noted unless `note_use` is false)."""
    token = request.cookies.get(LOGIN_COOKIE)
    if not token or len(token) > 100:
        return None
    therapist = await store.web_session(token, now, LOGIN_IDLE_LIMIT, note_use)
    return None if therapist is None else (therapist, token)


def invitation(group: Group, entry: RosterEntry, link: str, therapist: Therapist) -> str:
    """The message a therapist pastes into an email to a member (or observer): the
    personal link and how joining goes, in the group's language, signed by her."""
    texts = TEXTS[group.language if group.language in LANGUAGES else "en"]
    device = texts[
        "invitation_device_observer" if entry.role is Role.OBSERVER else "invitation_device_member"
    ]
    schedule = texts["invitation_schedule"].format(schedule=group.schedule)
    return texts["invitation"].format(
        name=entry.display_name,
        group=group.name,
        link=link,
        schedule=f"{schedule}\n\n" if group.schedule else "",
        device=device,
        therapist=therapist.display_name,
    )


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both cases take as long. Made on
    first use, not at import: argon2 work the server and the tests need not do at start-up."""
    return hash_password("grouproom-timing-equaliser")


def _verify_or_equalise(password_hash: str | None, password: str) -> bool:
    """verify_password against the account's hash, or against the dummy hash when the
    account is unknown (None). Runs in a worker thread, so the first dummy hash is made
    there, not on the event loop."""
    return verify_password(password_hash if password_hash is not None else _dummy_hash(), password)


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_CSV_FORMULA_START) else value


def _download(text: str, content_type: str, filename: str) -> web.Response:
    """A UTF-8 file the browser saves rather than shows, never cached."""
    return web.Response(
        body=text.encode("utf-8"),
        content_type=content_type,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
