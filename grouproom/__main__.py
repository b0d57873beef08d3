"""The command line: `grouproom serve` (or `python -m grouproom serve`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from grouproom.settings import Settings, SettingsError, settings_from_env

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
    return parser


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    def as_tuple(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values)

    return settings_from_env(
        host=arguments.host,
        port=arguments.port,
        ice_addresses=as_tuple(arguments.ice_addresses),
        stun_urls=as_tuple(arguments.stun_urls),
        turn_urls=as_tuple(arguments.turn_urls),
        turn_secret=arguments.turn_secret,
        max_participants=arguments.max_participants,
        video_max_bitrate=arguments.video_max_bitrate,
    )


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiortc and aioice log candidate addresses (personal data) at INFO and DEBUG.
    for name in ("aiortc", "aioice"):
        logging.getLogger(name).setLevel(logging.WARNING)


def base_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def serve(settings: Settings) -> int:
    from aiohttp import web

    from grouproom.app import create_app
    from grouproom.media.hooks import check_hooks

    try:
        check_hooks()
    except RuntimeError as exc:
        print(f"grouproom: cannot start: {exc}", file=sys.stderr)
        return EXIT_HOOKS

    url = base_url(settings)
    print(f"grouproom listens on {url}/", flush=True)
    for room in settings.demo_rooms:
        print(f"  room link: {url}/r/{room}", flush=True)
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            print=None,
            access_log=None,
        )
    except OSError as exc:
        print(f"grouproom: cannot listen on {url}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
