"""The command line (also `python -m grouproom`):

grouproom serve                          run the server
grouproom therapist add|list|set-password|reset-two-factor|disable|enable
grouproom group list|hand-over           therapy groups, for an operator
grouproom audit                          the audit log as JSON lines (NEN 7513)
grouproom member export|delete ID        one roster member's data (GDPR)
grouproom backup FOLDER                  a restorable copy, made while the server runs

The operator's commands are in operator_commands.py.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from grouproom.exit_codes import EXIT_HOOKS, EXIT_SETTINGS
from grouproom.long_lived import freeze_start_up_objects
from grouproom.settings import Settings, SettingsError, is_loopback, settings_from_env

if TYPE_CHECKING:
    from aiohttp import web

    from grouproom.store.store import Store


SHUTDOWN_TIMEOUT = 5.0
DASHED_ID = re.compile(r"-[A-Za-z0-9_-]{23}")  # an id of 24 characters (store.new_id)


class CommandLineParser(argparse.ArgumentParser):
    """Says how to pass an id that begins with "-" (ids made before this was ruled
    out may), which argparse otherwise takes for an unknown option."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> Any:
        dashed_ids = [a for a in getattr(self, "given", []) if DASHED_ID.fullmatch(a)]
        if dashed_ids:
            message += (
                f"\nan id that begins with '-' goes after '--', with the options before"
                f" it ({self.prog} [options] -- {dashed_ids[0]}), or joined to its option"
                f" with '=' (--group={dashed_ids[0]})"
            )
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
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
    add = account_command(therapist_commands, "add", "create a therapist account", password=True)
    add.add_argument("--name", required=True, help="the name shown to groups")
    account_command(
        therapist_commands,
        "set-password",
        "give a therapist a new password (a forgotten one); they are logged out everywhere",
        password=True,
    )
    account_command(
        therapist_commands,
        "reset-two-factor",
        "turn a therapist's two-step login off (a lost phone and recovery codes); "
        "they log in with the password only, and must set it up again where it is required",
    )
    account_command(
        therapist_commands,
        "disable",
        "disable a therapist's account (someone who left): no login, logged out "
        "everywhere; kept for the records and the audit log",
    )
    account_command(therapist_commands, "enable", "enable a disabled account again")
    listing = therapist_commands.add_parser(
        "list",
        help="every therapist account: id, email, name, two-step login on or off, "
        "active or disabled",
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
    backup = commands.add_parser(
        "backup",
        help="copy the database and the secret key into a new folder, consistently, "
        "while the server runs (the folder is a data folder to restore from)",
    )
    backup.add_argument("folder", help="a new or empty folder")
    add_storage_arguments(backup)
    return parser


def account_command(
    commands: Any, name: str, help_text: str, password: bool = False
) -> argparse.ArgumentParser:
    """A `therapist` command about one account, named by its email address; with
    `password`, it reads a new password (asked twice, or from standard input)."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    parser.add_argument("email")
    if password:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input instead of asking twice",
        )
    add_storage_arguments(parser)
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
    from grouproom.media import copy_step
    from grouproom.media.hooks import check_hooks
    from grouproom.media.udp_mux import MediaPortError

    try:
        check_hooks()
    except RuntimeError as exc:
        print(f"grouproom: cannot start: {exc}", file=sys.stderr)
        return EXIT_HOOKS
    try:
        copies = copy_step.use(settings.copy_step)
    except copy_step.CopyStepUnavailable as exc:
        print(f"grouproom: cannot start: {exc}", file=sys.stderr)
        return EXIT_HOOKS

    url = base_url(settings)
    public = settings.public_url.rstrip("/") or url
    banner = [f"grouproom listens on {url}/"]
    if settings.open_rooms:
        banner += [f"  room link: {url}/r/{room}" for room in settings.demo_rooms]
    banner.append(f"  therapists log in at: {url}/login")
    advice = two_factor_advice(settings)
    if advice:
        banner.append(advice)

    async def prepare_demo(store: Store, secret: bytes) -> None:
        if not settings.demo_group:
            return
        demo = await ensure_demo(store, secret, public, settings.invite_days)
        if demo is not None:
            banner.extend(describe(demo, public))

    def show_banner(_: str) -> None:
        # run_app calls this once the server listens: a link printed here works.
        media = media_line(app.get(media_ports_key, []), settings)
        print("\n".join([*banner, media, f"  copies of each packet: {copies}"]), flush=True)

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


def two_factor_advice(settings: Settings) -> str | None:
    """A line for the start-up banner when therapists of a server reachable beyond
    this machine may log in with a password alone."""
    if settings.two_factor == "required" or is_loopback(settings.host):
        return None
    return (
        "  therapists may log in with a password alone: for real groups set "
        "GROUPROOM_TWO_FACTOR=required (NEN 7510)"
    )


def media_line(ports: list[int], settings: Settings) -> str:
    """Where media arrives, for the firewall."""
    listed = ", ".join(str(port) for port in ports) or "?"
    if not settings.room_workers:
        return f"  media: UDP port {listed}"
    if settings.media_port == 0:
        return f"  media: UDP port {listed}, room workers: any free port"
    return f"  media: UDP port {listed}, room workers from {settings.media_port + 1} up"


def main(argv: Sequence[str] | None = None) -> int:
    from grouproom.operator_commands import (
        AuditFilter,
        add_therapist,
        delete_member,
        export_audit,
        export_member,
        hand_over_group,
        list_groups,
        list_therapists,
        reset_two_factor,
        set_disabled,
        set_password,
    )

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
    if arguments.command == "backup":
        from grouproom.backup import backup

        return backup(settings, arguments.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
