"""One typed settings object, read from environment variables and CLI flags.

Every setting has a default that runs on a laptop: the server listens on
127.0.0.1:8080, announces only the loopback address as an ICE candidate and
contacts no STUN or TURN server.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from grouproom.media.contract import COPY_STEPS

# Upper bound of retention_days: twenty years, the standard retention period of a
# Dutch medical record (WGBO); attendance has no reason to be kept longer.
MAX_RETENTION_DAYS = 7300
# The embedded database: its file in the data folder, and how its URL begins.
DATABASE_FILE = "grouproom.db"
SQLITE_URL_PREFIX = "sqlite+aiosqlite:///"


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Addresses offered to browsers as ICE host candidates. Empty means: every
    # address of this machine (aioice's choice), or 127.0.0.1 when `host` is a
    # loopback address.
    ice_addresses: tuple[str, ...] = ()
    # The UDP port every participant's media uses (on each ICE address); room worker
    # processes take the ports after it. 0: a free port chosen at start-up.
    media_port: int = 10000
    # Bind the media socket here (e.g. 0.0.0.0 in a container whose UDP port is
    # published) and offer the one ICE address to browsers. Empty: bind to each ICE
    # address itself.
    media_bind_address: str = ""
    # STUN servers, e.g. "stun:stun.example.org:3478". None by default: the server
    # never contacts a STUN or TURN server it was not configured with.
    stun_urls: tuple[str, ...] = ()
    # One TURN server (coturn) with short-lived REST credentials (the shared
    # secret of coturn's `static-auth-secret`).
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_credential_ttl: int = 6 * 3600
    # Seconds a therapy session keeps the seat of someone whose connection broke
    # (Wi-Fi lost, a laptop asleep, a server restart): coming back within it, they
    # get the same seat, role and mute state without the waiting room.
    reconnect_grace: int = 60
    # Seats in a therapy session, therapists and observers included.
    session_max_participants: int = 16
    # Limits per client: messages per second on one socket (bursts of twice as many
    # are fine), and open sockets per address.
    messages_per_second: int = 20
    connections_per_address: int = 30
    # Reverse proxies whose X-Forwarded-For header is believed (e.g. 127.0.0.1 for
    # nginx on the same machine): the limits and the login throttle then count the
    # client's address, not the proxy's.
    trusted_proxies: tuple[str, ...] = ()
    # Media caps applied to every publisher.
    max_participants: int = 12
    video_max_bitrate: int = 500_000
    video_max_width: int = 640
    video_max_height: int = 360
    video_max_framerate: int = 25
    # Open rooms (/r/<name>): anyone with the server's address can make one, without
    # an account. On for trying grouproom out; switch them off on a server that only
    # hosts therapy groups (docs/security.md).
    open_rooms: bool = True
    # Rooms created when the server starts (their links are printed).
    demo_rooms: tuple[str, ...] = ("demo",)
    # A demo therapist, group and open session on a new, empty database (see
    # grouproom/demo.py); their login and invite links are printed.
    demo_group: bool = True
    web_root: str = field(default_factory=lambda: default_web_root())
    # Where the embedded database and the server's secret key live (created on
    # first use, readable by the server's user only).
    data_dir: str = "grouproom-data"
    # SQLAlchemy URL of the database; empty: an SQLite file in data_dir. For
    # PostgreSQL: postgresql+asyncpg://user:password@host/database
    database_url: str = ""
    # The address people use to reach the server, e.g. https://video.example.org;
    # invite links are made with it. Empty: taken from each request.
    public_url: str = ""
    # How long an invite link works (a revoked one stops at once).
    invite_days: int = 90
    # The time zone of times shown on the therapists' pages.
    timezone: str = "Europe/Amsterdam"
    # The event loop: "uvloop" (libuv, a dependency on Linux and macOS), "asyncio"
    # (the standard library's), or "auto": uvloop when it is installed. The bench
    # measured uvloop at about 5% less CPU per forwarded packet (docs/performance.md).
    event_loop: str = "auto"
    # What makes each subscriber's copy of a forwarded packet and reads each
    # publisher's RTP datagram: "compiled" (the per-copy and receive steps in C,
    # built when grouproom is installed with a C compiler; about a fifth less CPU per
    # forwarded packet in the bench), "python", or "auto": the compiled ones when
    # built (docs/media.md, "The compiled copy step", "The compiled receive step").
    copy_step: str = "auto"
    # Rooms' and sessions' media in worker processes (a pool of at most one per core,
    # each serving several rooms), so that several busy rooms use more than one core.
    # Off by default: one UDP port is the simplest deployment (each worker needs a
    # port of its own, which a firewall or container must open too), and workers
    # cost memory; a server that runs several groups at once should turn them on.
    room_workers: bool = False
    # Prometheus metrics (GET /metrics) on a port of their own; 0: off. Keep the
    # host on loopback or a private network: the numbers are for operators.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Attendance rows and ground-rule acceptances older than this many days are
    # deleted (at start-up and every hour). The audit log is kept (ids only).
    retention_days: int = 365
    # Two-step login for therapists (a code from an authenticator app after the
    # password): "optional" (each therapist may turn it on, on their account page)
    # or "required" (a therapist without it sets it up at their next login, before
    # reaching any group). NEN 7510 asks for it where health data is reached from
    # outside a care provider's own network: set "required" for real groups.
    two_factor: str = "optional"
    # Who answers for the members' data (the care provider: GDPR's controller, not
    # grouproom) and how to reach them, on the privacy page (/privacy) that the way
    # in links to, e.g. "Instituut Voorbeeld, privacy@voorbeeld.nl". Empty: the page
    # names "the organisation that invited you".
    privacy_contact: str = ""
    # The care provider's own privacy statement (an https:// address), linked there.
    privacy_url: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.metrics_port < 65536 or (
            self.metrics_port and self.metrics_port == self.port
        ):
            raise SettingsError("metrics port must be 0 (off) or a port other than the server's")
        if self.event_loop not in ("auto", "uvloop", "asyncio"):
            raise SettingsError(
                f"event loop must be auto, uvloop or asyncio, not {self.event_loop!r}"
            )
        if self.event_loop == "auto":
            chosen = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
            object.__setattr__(self, "event_loop", chosen)
        if self.copy_step not in COPY_STEPS:
            raise SettingsError(
                f"copy step must be auto, compiled or python, not {self.copy_step!r}"
            )
        if self.two_factor not in ("optional", "required"):
            raise SettingsError(
                f"two-step login must be optional or required, not {self.two_factor!r}"
            )
        if len(self.privacy_contact) > 300:
            raise SettingsError("privacy contact must be at most 300 characters")
        if self.privacy_url and not self.privacy_url.startswith(("https://", "http://")):
            raise SettingsError(f"privacy url must start with https://, not {self.privacy_url!r}")
        if not 0 <= self.media_port < 65536:
            raise SettingsError(f"media port must be between 0 and 65535, not {self.media_port}")
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be between 1 and 65535, not {self.port}")
        for address in self.ice_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SettingsError(f"ice address {address!r} is not an IP address") from None
        if self.media_bind_address:
            try:
                ipaddress.ip_address(self.media_bind_address)
            except ValueError:
                raise SettingsError(
                    f"media bind address {self.media_bind_address!r} is not an IP address"
                ) from None
            if len(self.ice_addresses) != 1:
                raise SettingsError(
                    "a media bind address needs exactly one ICE address: the one browsers "
                    "reach it on (GROUPROOM_ICE_ADDRESSES)"
                )
        for url in self.stun_urls:
            if not url.startswith("stun:"):
                raise SettingsError(f"STUN url {url!r} must start with 'stun:'")
        for url in self.turn_urls:
            if not url.startswith(("turn:", "turns:")):
                raise SettingsError(f"TURN url {url!r} must start with 'turn:' or 'turns:'")
        if self.turn_urls and not self.turn_secret:
            raise SettingsError("a TURN url needs a TURN secret (GROUPROOM_TURN_SECRET)")
        if not 1 <= self.reconnect_grace <= 600:
            raise SettingsError("the reconnect grace period is 1 to 600 seconds")
        if not 2 <= self.session_max_participants <= 32:
            raise SettingsError("session max participants must be between 2 and 32")
        if not 1 <= self.messages_per_second <= 1000:
            raise SettingsError("messages per second is 1 to 1000")
        if not 1 <= self.connections_per_address <= 10000:
            raise SettingsError("connections per address is 1 to 10000")
        for address in self.trusted_proxies:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SettingsError(f"trusted proxy {address!r} is not an IP address") from None
        if not 2 <= self.max_participants <= 32:
            raise SettingsError("max participants must be between 2 and 32")
        if self.video_max_bitrate < 50_000:
            raise SettingsError("video max bitrate must be at least 50000 bit/s")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError("the public URL starts with http:// or https://")
        if not 1 <= self.retention_days <= MAX_RETENTION_DAYS:
            raise SettingsError(
                f"retention days must be between 1 and {MAX_RETENTION_DAYS}, "
                f"not {self.retention_days}"
            )
        if not 1 <= self.invite_days <= 730:
            raise SettingsError("invite links last 1 to 730 days")
        if self.database_url and not self.database_url.startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            raise SettingsError(
                "the database URL starts with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return SQLITE_URL_PREFIX + os.path.abspath(os.path.join(self.data_dir, DATABASE_FILE))

    @property
    def embedded_database(self) -> str | None:
        """The SQLite file of the database in use (None: PostgreSQL)."""
        url = self.effective_database_url
        return url.removeprefix(SQLITE_URL_PREFIX) if url.startswith(SQLITE_URL_PREFIX) else None

    @property
    def effective_ice_addresses(self) -> tuple[str, ...]:
        """The addresses announced as ICE host candidates; empty means all."""
        if self.ice_addresses:
            return self.ice_addresses
        if is_loopback(self.host):
            return ("127.0.0.1",)
        return ()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_web_root() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")


ENV_PREFIX = "GROUPROOM_"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from GROUPROOM_* environment variables, then overrides.

    Overrides whose value is None are ignored, so CLI flags that were not given
    leave the environment's value in place.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        if f.type == "bool":
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()} must be true or false")
            values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif f.type in ("int",):
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()} must be a number") from None
        elif f.type.startswith("tuple"):
            values[f.name] = _split(raw)
        else:
            values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
