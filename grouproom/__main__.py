"""The command line (also `python -m grouproom`):

grouproom serve                   run the server
grouproom therapist add EMAIL     create a therapist account
grouproom member export ID        everything stored about a roster member, as JSON
grouproom member delete ID        delete a roster member's personal data (GDPR)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from grouproom.accounts.passwords import PasswordError
from grouproom.data_dir import ensure_data_dir
from grouproom.long_lived import freeze_start_up_objects
from grouproom.settings import Settings, SettingsError, settings_from_env

if TYPE_CHECKING:
    from aiohttp import web

    from grouproom.store.records import AuditEntry, Therapist
    from grouproom.store.store import Store

EXIT_SETTINGS = 2
EXIT_HOOKS = 3
SHUTDOWN_TIMEOUT = 5.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grouproom",
        description="A video-room server for online group therapy.",
        epilog="Every flag overrides the GROUPROOM_* environment variable of the same name.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument(
        "--ice-address",
        action="append",
        dest="ice_addresses",
        metavar="ADDRESS",
        help="an address offered to browsers as ICE candidate (repeatable)",
    )
    serve.add_argument(
        "--media-port",
        type=int,
        help="UDP port for every participant's media (default 10000; 0: any free port)",
    )
    serve.add_argument(
        "--media-bind-address",
        help="bind the media port here (e.g. 0.0.0.0 in a container) and offer the one "
        "--ice-address to browsers",
    )
    serve.add_argument(
        "--stun",
        action="append",
        dest="stun_urls",
        metavar="URL",
        help="stun:host:port (repeatable)",
    )
    serve.add_argument(
        "--turn",
        action="append",
        dest="turn_urls",
        metavar="URL",
        help="turn:host:port (repeatable)",
    )
    serve.add_argument("--turn-secret", help="coturn's static-auth-secret")
    serve.add_argument("--max-participants", type=int, help="per room (default 12)")
    serve.add_argument("--video-max-bitrate", type=int, help="bit/s per camera (default 500000)")
    serve.add_argument(
        "--retention-days",
        type=int,
        help="days attendance and rule acceptances are kept (default 365)",
    )
    serve.add_argument(
        "--two-factor",
        choices=("optional", "required"),
        help="therapists' two-step login with an authenticator app (default optional)",
    )
    for command in (serve,):
        add_storage_arguments(command)

    therapist = commands.add_parser("therapist", help="manage therapist accounts")
    therapist_commands = therapist.add_subparsers(dest="therapist_command", required=True)
    add = therapist_commands.add_parser("add", help="create a therapist account")
    add.add_argument("email")
    add.add_argument("--name", required=True, help="the name shown to groups")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking twice",
    )
    add_storage_arguments(add)
    new_password = therapist_commands.add_parser(
        "set-password",
        help="give a therapist a new password (a forgotten one); they are logged out everywhere",
    )
    new_password.add_argument("email")
    new_password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking twice",
    )
    add_storage_arguments(new_password)
    reset = therapist_commands.add_parser(
        "reset-two-factor",
        help="turn a therapist's two-step login off (a lost phone and recovery codes); "
        "they log in with the password only, and must set it up again where it is required",
    )
    reset.add_argument("email")
    add_storage_arguments(reset)

    disable = therapist_commands.add_parser(
        "disable",
        help="disable a therapist's account (someone who left): no login, logged out "
        "everywhere; kept for the records and the audit log",
    )
    disable.add_argument("email")
    add_storage_arguments(disable)
    enable = therapist_commands.add_parser("enable", help="enable a disabled account again")
    enable.add_argument("email")
    add_storage_arguments(enable)
    listing = therapist_commands.add_parser(
        "list", help="every therapist account: id, email, name, two-step login on or off"
    )
    add_storage_arguments(listing)

    audit = commands.add_parser(
        "audit",
        help="export the audit log (NEN 7513) as JSON lines, oldest first; the export "
        "is itself audited",
    )
    audit.add_argument("--since", metavar="DATE", help="from this day on (YYYY-MM-DD)")
    audit.add_argument("--until", metavar="DATE", help="up to and including this day")
    audit.add_argument("--group", metavar="ID", help="only entries about this group")
    audit.add_argument("--actor", metavar="ID", help="only entries by this actor")
    audit.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    add_storage_arguments(audit)

    group = commands.add_parser("group", help="therapy groups, for an operator")
    group_commands = group.add_subparsers(dest="group_command", required=True)
    group_list = group_commands.add_parser(
        "list", help="every group: id, name, lead therapist and cotherapist (email addresses)"
    )
    add_storage_arguments(group_list)
    hand_over = group_commands.add_parser(
        "hand-over",
        help="make another therapist the group's lead (the lead left); if it was the "
        "cotherapist, the group has none until the new lead chooses one",
    )
    hand_over.add_argument("id", help="the group's id (in the group page's address)")
    hand_over.add_argument("email", help="the new lead therapist")
    add_storage_arguments(hand_over)

    member = commands.add_parser("member", help="a roster member's own data (GDPR)")
    member_commands = member.add_subparsers(dest="member_command", required=True)
    export = member_commands.add_parser(
        "export", help="write everything stored about a roster entry as JSON"
    )
    export.add_argument("id", help="the roster entry's id (on the group page and in the audit log)")
    export.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    add_storage_arguments(export)
    delete = member_commands.add_parser(
        "delete", help="delete a roster entry's personal data; the audit log keeps its id"
    )
    delete.add_argument("id", help="the roster entry's id")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_storage_arguments(delete)
    return parser


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder of the embedded database (grouproom-data)")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default: SQLite in --data-dir")


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    def as_tuple(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values)

    def flag(name: str) -> Any:  # a flag only some commands have is None for the others
        return getattr(arguments, name, None)

    return settings_from_env(
        host=flag("host"),
        port=flag("port"),
        ice_addresses=as_tuple(flag("ice_addresses")),
        media_port=flag("media_port"),
        media_bind_address=flag("media_bind_address"),
        stun_urls=as_tuple(flag("stun_urls")),
        turn_urls=as_tuple(flag("turn_urls")),
        turn_secret=flag("turn_secret"),
        max_participants=flag("max_participants"),
        video_max_bitrate=flag("video_max_bitrate"),
        retention_days=flag("retention_days"),
        two_factor=flag("two_factor"),
        data_dir=arguments.data_dir,
        database_url=arguments.database_url,
    )


# Libraries whose INFO and DEBUG lines carry personal data or noise, held at WARNING:
# aiortc and aioice log ICE candidate addresses; the database libraries log SQL
# statements with their values (names among them); alembic every migration step.
QUIET_LOGGERS = ("aiortc", "aioice", "sqlalchemy", "aiosqlite", "asyncpg", "alembic")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def base_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


async def freeze_startup_objects(app: web.Application) -> None:
    freeze_start_up_objects()


def serve(settings: Settings) -> int:
    from aiohttp import web

    from grouproom.app import create_app, media_ports_key
    from grouproom.demo import describe, ensure_demo
    from grouproom.media.hooks import check_hooks
    from grouproom.media.udp_mux import MediaPortError

    try:
        check_hooks()
    except RuntimeError as exc:
        print(f"grouproom: cannot start: {exc}", file=sys.stderr)
        return EXIT_HOOKS

    url = base_url(settings)
    public = settings.public_url.rstrip("/") or url
    banner = [f"grouproom listens on {url}/"]
    if settings.open_rooms:
        banner += [f"  room link: {url}/r/{room}" for room in settings.demo_rooms]
    banner.append(f"  therapists log in at: {url}/login")

    async def prepare_demo(store: Store, secret: bytes) -> None:
        if not settings.demo_group:
            return
        demo = await ensure_demo(store, secret, public, settings.invite_days)
        if demo is not None:
            banner.extend(describe(demo, public))

    def show_banner(_: str) -> None:
        # run_app calls this once the server listens: a link printed here works.
        media = media_line(app.get(media_ports_key, []), settings)
        print("\n".join([*banner, media]), flush=True)

    loop = None
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print(
                "grouproom: GROUPROOM_EVENT_LOOP=uvloop needs uvloop: pip install uvloop",
                file=sys.stderr,
            )
            return 1
        loop = uvloop.new_event_loop()
    app = create_app(settings, on_ready=prepare_demo)
    app.on_startup.insert(0, freeze_startup_objects)
    try:
        web.run_app(
            app,
            loop=loop,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            print=show_banner,
            access_log=None,
        )
    except MediaPortError as exc:
        print(f"grouproom: cannot start: {exc.strerror}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"grouproom: cannot listen on {url}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def media_line(ports: list[int], settings: Settings) -> str:
    """Where media arrives, for the firewall."""
    listed = ", ".join(str(port) for port in ports) or "?"
    if not settings.room_workers:
        return f"  media: UDP port {listed}"
    if settings.media_port == 0:
        return f"  media: UDP port {listed}, room workers: any free port"
    return f"  media: UDP port {listed}, room workers from {settings.media_port + 1} up"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    configure_logging()
    try:
        settings = settings_from_arguments(arguments)
    except SettingsError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    if arguments.command == "serve":
        return serve(settings)
    if arguments.command == "therapist" and arguments.therapist_command == "reset-two-factor":
        return reset_two_factor(settings, arguments.email)
    if arguments.command == "therapist" and arguments.therapist_command == "set-password":
        return set_password(settings, arguments.email, arguments.password_stdin)
    if arguments.command == "therapist" and arguments.therapist_command in ("disable", "enable"):
        return set_disabled(settings, arguments.email, arguments.therapist_command == "disable")
    if arguments.command == "therapist" and arguments.therapist_command == "list":
        return list_therapists(settings)
    if arguments.command == "group" and arguments.group_command == "list":
        return list_groups(settings)
    if arguments.command == "group":
        return hand_over_group(settings, arguments.id, arguments.email)
    if arguments.command == "audit":
        return export_audit(
            settings,
            AuditFilter(arguments.since, arguments.until, arguments.group, arguments.actor),
            arguments.output,
        )
    if arguments.command == "therapist":
        return add_therapist(settings, arguments.email, arguments.name, arguments.password_stdin)
    if arguments.command == "member" and arguments.member_command == "export":
        return export_member(settings, arguments.id, arguments.output)
    if arguments.command == "member":
        return delete_member(settings, arguments.id, arguments.yes)
    return 0


def read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise PasswordError("the two passwords differ")
    return first


def add_therapist(settings: Settings, email: str, name: str, password_stdin: bool) -> int:
    """Create a therapist account in the configured database."""
    from grouproom.accounts.passwords import hash_password
    from grouproom.store.store import StoreError

    if "@" not in email or len(email) > 254 or not 1 <= len(name.strip()) <= 80:
        print("grouproom: give an email address and a name of 1 to 80 characters", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        password_hash = hash_password(read_new_password(password_stdin))
    except PasswordError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS

    async def create() -> None:
        store = await _open_store(settings)
        try:
            await store.add_therapist(email, name.strip(), password_hash, datetime.now(UTC))
        finally:
            await store.close()

    try:
        asyncio.run(create())
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"therapist account {email.strip().lower()} created", flush=True)
    return 0


CLI_ACTOR = "command-line"


async def _open_store(settings: Settings) -> Store:
    from grouproom.store.store import Store

    if not settings.database_url:
        ensure_data_dir(settings.data_dir)
    return await Store.open(settings.effective_database_url)


def set_password(settings: Settings, email: str, password_stdin: bool) -> int:
    """A new password for a therapist; their logins end (audited)."""
    from grouproom.accounts.passwords import hash_password

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
    from grouproom.store.records import AuditEntry
    from grouproom.store.store import StoreError

    async def run() -> None:
        store = await _open_store(settings)
        try:
            therapist = await store.therapist_by_email(email)
            if therapist is None:
                raise StoreError(f"there is no therapist with email {email.strip().lower()}")
            await change(store, therapist.id)
            await store.end_web_sessions_of(therapist.id)
            await store.append_audit(
                AuditEntry(datetime.now(UTC), CLI_ACTOR, "operator", action, therapist.id, None)
            )
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(done, flush=True)
    return 0


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
    from grouproom.store.records import AuditEntry
    from grouproom.store.store import StoreError

    async def hand_over() -> None:
        store = await _open_store(settings)
        try:
            therapist = await store.therapist_by_email(email)
            if therapist is None or therapist.disabled:
                raise StoreError(f"there is no active therapist with email {email.strip().lower()}")
            group = await store.group(group_id)
            if group is None:
                raise StoreError(f"unknown group {group_id}")
            await store.hand_over_group(group_id, therapist.id)
            await store.append_audit(
                AuditEntry(
                    datetime.now(UTC),
                    CLI_ACTOR,
                    "operator",
                    "hand_over_group",
                    therapist.id,
                    group_id,
                    f"lead before: {group.lead_therapist_id}",
                )
            )
        finally:
            await store.close()

    try:
        asyncio.run(hand_over())
    except StoreError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"{email.strip().lower()} now leads group {group_id}", flush=True)
    return 0


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
    from grouproom.store.records import AuditEntry

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
            await store.append_audit(
                AuditEntry(
                    datetime.now(UTC),
                    CLI_ACTOR,
                    "operator",
                    "export_audit_log",
                    None,
                    None,
                    wanted.describe(),
                )
            )
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
    from grouproom.store.records import AuditEntry
    from grouproom.store.store import StoreError

    async def export() -> dict[str, Any]:
        store = await _open_store(settings)
        try:
            document = await store.member_data(entry_id)
            group_id = document["roster_entry"]["group"]["id"]
            await store.append_audit(
                AuditEntry(
                    datetime.now(UTC),
                    CLI_ACTOR,
                    "operator",
                    "export_member_data",
                    entry_id,
                    group_id,
                )
            )
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
    from grouproom.store.records import AuditEntry
    from grouproom.store.store import StoreError

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
                AuditEntry(
                    datetime.now(UTC),
                    CLI_ACTOR,
                    "operator",
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


if __name__ == "__main__":
    sys.exit(main())
