"""What an operator does on the command line besides running the server: therapist
accounts (add, list, new password, two-step login reset, disable, enable), groups
(list, hand over), the audit log export (NEN 7513), and one member's data (GDPR
export and deletion). Each opens the configured database, and every change is
written to the audit log with the actor `command-line`.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from grouproom.accounts.passwords import PasswordError, hash_password
from grouproom.data_dir import ensure_data_dir
from grouproom.exit_codes import EXIT_SETTINGS
from grouproom.settings import Settings
from grouproom.store.records import AuditEntry, Therapist
from grouproom.store.store import Store, StoreError


def read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise PasswordError("the two passwords differ")
    return first


def add_therapist(settings: Settings, email: str, name: str, password_stdin: bool) -> int:
    """Create a therapist account in the configured database."""
    if "@" not in email or len(email) > 254 or not 1 <= len(name.strip()) <= 80:
        print("grouproom: give an email address and a name of 1 to 80 characters", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        password_hash = hash_password(read_new_password(password_stdin))
    except PasswordError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS

    async def create(store: Store) -> None:
        await store.add_therapist(email, name.strip(), password_hash, datetime.now(UTC))

    return _in_store(settings, create, f"therapist account {email.strip().lower()} created")


CLI_ACTOR = "command-line"


def operator_action(
    action: str, subject: str | None = None, group_id: str | None = None, detail: str = ""
) -> AuditEntry:
    """The audit entry of something an operator did on the command line, now."""
    return AuditEntry(datetime.now(UTC), CLI_ACTOR, "operator", action, subject, group_id, detail)


async def _open_store(settings: Settings) -> Store:
    if not settings.database_url:
        ensure_data_dir(settings.data_dir)
    return await Store.open(settings.effective_database_url)


def _in_store(settings: Settings, work: Callable[[Store], Awaitable[None]], done: str) -> int:
    """Run `work` on the configured database; print `done`, or the store's refusal."""

    async def run() -> None:
        store = await _open_store(settings)
        try:
            await work(store)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(done, flush=True)
    return 0


def set_password(settings: Settings, email: str, password_stdin: bool) -> int:
    """A new password for a therapist; their logins end (audited)."""

    try:
        password_hash = hash_password(read_new_password(password_stdin))
    except PasswordError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    return _operator_change(
        settings,
        email,
        "password_set",
        lambda store, therapist_id: store.set_password_hash(therapist_id, password_hash),
        f"{email.strip().lower()} has a new password; they are logged out everywhere",
    )


def _operator_change(
    settings: Settings,
    email: str,
    action: str,
    change: Callable[[Store, str], Awaitable[None]],
    done: str,
) -> int:
    """An operator's change to one therapist's account: made, their logins ended,
    and written to the audit log."""

    async def run(store: Store) -> None:
        therapist = await store.therapist_by_email(email)
        if therapist is None:
            raise StoreError(f"there is no therapist with email {email.strip().lower()}")
        await change(store, therapist.id)
        await store.end_web_sessions_of(therapist.id)
        await store.append_audit(operator_action(action, therapist.id))

    return _in_store(settings, run, done)


def set_disabled(settings: Settings, email: str, disabled: bool) -> int:
    """Disable a therapist's account (audited; logged out everywhere), or enable it."""
    at = datetime.now(UTC) if disabled else None
    name = email.strip().lower()
    return _operator_change(
        settings,
        email,
        "therapist_disabled" if disabled else "therapist_enabled",
        lambda store, therapist_id: store.set_therapist_disabled(therapist_id, at),
        f"the account of {name} is disabled; they are logged out everywhere"
        if disabled
        else f"the account of {name} is enabled again",
    )


def reset_two_factor(settings: Settings, email: str) -> int:
    """Turn a therapist's two-step login off and log them out everywhere (audited)."""
    return _operator_change(
        settings,
        email,
        "two_factor_reset",
        lambda store, therapist_id: store.disable_two_factor(therapist_id),
        f"two-step login of {email.strip().lower()} is off; they are logged out everywhere",
    )


def list_therapists(settings: Settings) -> int:
    """Every therapist account, one per line (tab-separated), for an operator."""

    async def listed() -> list[Therapist]:
        store = await _open_store(settings)
        try:
            return await store.therapists()
        finally:
            await store.close()

    print("id\temail\tname\ttwo-step login\taccount")
    for therapist in asyncio.run(listed()):
        state = "on" if therapist.two_factor else "off"
        account = "disabled" if therapist.disabled else "active"
        print(f"{therapist.id}\t{therapist.email}\t{therapist.display_name}\t{state}\t{account}")
    return 0


def list_groups(settings: Settings) -> int:
    """Every group, one per line (tab-separated), with its therapists' email addresses."""

    async def listed() -> list[tuple[str, str, str, str]]:
        store = await _open_store(settings)
        try:
            emails = {t.id: t.email for t in await store.therapists()}
            return [
                (
                    g.id,
                    g.name,
                    emails.get(g.lead_therapist_id, "-"),
                    emails.get(g.cotherapist_id or "", "-"),
                )
                for g in await store.all_groups()
            ]
        finally:
            await store.close()

    print("id\tname\tlead therapist\tcotherapist")
    for row in asyncio.run(listed()):
        print("\t".join(row))
    return 0


def hand_over_group(settings: Settings, group_id: str, email: str) -> int:
    """Make another therapist the group's lead (audited)."""

    async def hand_over(store: Store) -> None:
        therapist = await store.therapist_by_email(email)
        if therapist is None or therapist.disabled:
            raise StoreError(f"there is no active therapist with email {email.strip().lower()}")
        group = await store.group(group_id)
        if group is None:
            raise StoreError(f"unknown group {group_id}")
        await store.hand_over_group(group_id, therapist.id)
        await store.append_audit(
            operator_action(
                "hand_over_group", therapist.id, group_id, f"lead before: {group.lead_therapist_id}"
            )
        )

    return _in_store(settings, hand_over, f"{email.strip().lower()} now leads group {group_id}")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What part of the audit log an operator exports: days (YYYY-MM-DD, in the
    server's time zone, `until` included), a group, an actor."""

    since: str | None = None
    until: str | None = None
    group_id: str | None = None
    actor_id: str | None = None

    def bounds(self, zone_name: str) -> tuple[datetime | None, datetime | None]:
        """The first moment included and the first moment after, in UTC."""
        zone = ZoneInfo(zone_name)

        def day_start(text: str | None, days_later: int) -> datetime | None:
            if text is None:
                return None
            day = date.fromisoformat(text) + timedelta(days=days_later)
            return datetime.combine(day, time.min, zone).astimezone(UTC)

        return day_start(self.since, 0), day_start(self.until, 1)

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("since", self.since),
                ("until", self.until),
                ("group", self.group_id),
                ("actor", self.actor_id),
            )
            if value is not None
        ]
        return ", ".join(parts) or "everything"


AUDIT_PAGE = 1000


def export_audit(settings: Settings, wanted: AuditFilter, output: str | None) -> int:
    """Write the audit entries `wanted` selects as JSON lines, oldest first; the
    export is audited first, so that it shows in what it exports."""

    try:
        since, until = wanted.bounds(settings.timezone)
    except ValueError as exc:
        print(f"grouproom: a day is written YYYY-MM-DD ({exc})", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        target = sys.stdout if output is None else open(output, "x", encoding="utf-8")
    except OSError as exc:
        print(f"grouproom: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SETTINGS

    async def export() -> int:
        store = await _open_store(settings)
        count = 0
        try:
            await store.append_audit(operator_action("export_audit_log", detail=wanted.describe()))
            after = 0
            while page := await store.audit_after(
                after, AUDIT_PAGE, since, until, wanted.group_id, wanted.actor_id
            ):
                for entry in page:
                    target.write(json.dumps(_audit_line(entry), ensure_ascii=False) + "\n")
                count += len(page)
                after = page[-1].id or after
        finally:
            await store.close()
        return count

    try:
        count = asyncio.run(export())
    finally:
        if target is not sys.stdout:
            target.close()
    if output is not None:
        print(f"{count} audit entries are in {output}", flush=True)
    return 0


def _audit_line(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_kind": entry.actor_kind,
        "action": entry.action,
        "subject": entry.subject,
        "group_id": entry.group_id,
        "detail": entry.detail,
    }


def export_member(settings: Settings, entry_id: str, output: str | None) -> int:
    """Print (or write to a file) everything stored about one roster entry."""

    async def export() -> dict[str, Any]:
        store = await _open_store(settings)
        try:
            document = await store.member_data(entry_id)
            group_id = document["roster_entry"]["group"]["id"]
            await store.append_audit(operator_action("export_member_data", entry_id, group_id))
            return document
        finally:
            await store.close()

    try:
        document = asyncio.run(export())
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        with open(output, "x", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        print(f"grouproom: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"the data of roster entry {entry_id} is in {output}", flush=True)
    return 0


def delete_member(settings: Settings, entry_id: str, confirmed: bool) -> int:
    """Delete one roster entry's personal data, after a confirmation (or --yes)."""

    async def erase(check_only: bool) -> str:
        store = await _open_store(settings)
        try:
            entry = await store.roster_entry(entry_id, include_archived=True)
            if entry is None:
                raise StoreError(f"unknown roster entry {entry_id}")
            if check_only:
                return entry.display_name
            counts = await store.erase_member(entry_id)
            await store.append_audit(
                operator_action(
                    "erase_member_data",
                    entry_id,
                    counts.group_id,
                    f"{counts.acceptances_deleted} rule acceptances deleted, "
                    f"{counts.attendance_anonymised} attendance rows anonymised",
                )
            )
            return entry.display_name
        finally:
            await store.close()

    try:
        name = asyncio.run(erase(check_only=True))
        if not confirmed:
            if not sys.stdin.isatty():
                print("grouproom: add --yes to delete without being asked", file=sys.stderr)
                return EXIT_SETTINGS
            answer = input(f"Delete all personal data of {name!r} ({entry_id})? Type yes: ")
            if answer.strip().lower() != "yes":
                print("grouproom: nothing deleted", file=sys.stderr)
                return 1
        asyncio.run(erase(check_only=False))
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"the personal data of roster entry {entry_id} is deleted", flush=True)
    return 0
