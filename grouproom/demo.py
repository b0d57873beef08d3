"""The demo group a fresh installation starts with, so that the first command
gives something to try: a therapist account, a group with two members and an
observer, an open session, and the invite links.

Made only when the database has no therapist yet; a real installation (whose
first therapist was added with `grouproom therapist add`) never gets one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grouproom.accounts.passwords import hash_password
from grouproom.rooms.invites import InviteClaims, make_invite
from grouproom.rooms.roles import Role
from grouproom.store.store import Store

# .invalid is reserved (RFC 2606): this address can never receive mail.
DEMO_EMAIL = "demo@grouproom.invalid"
DEMO_GROUP = "Demogroep"
DEMO_RULES = (
    "Wat in de groep gezegd wordt, blijft in de groep.\n"
    "We laten elkaar uitpraten.\n"
    "Er wordt niets opgenomen: geen schermafbeeldingen, geen opnames.\n"
    "Lukt het even niet? Gebruik de knop 'Ik heb even tijd nodig'."
)
DEMO_ROSTER = (("Anna", Role.MEMBER), ("Bram", Role.MEMBER), ("Olga (stagiair)", Role.OBSERVER))


@dataclass(frozen=True)
class Demo:
    email: str
    password: str | None  # only when just made: it is not stored anywhere in clear
    group_url: str
    invites: tuple[tuple[str, str], ...]  # (display name, invite link)


async def ensure_demo(
    store: Store, secret: bytes, base_url: str, invite_days: int, now: datetime | None = None
) -> Demo | None:
    """The demo group's links, making it first if the database is new; None when
    this installation has real therapists and no demo."""
    moment = now or datetime.now(UTC)
    therapist = await store.therapist_by_email(DEMO_EMAIL)
    password = None
    if therapist is None:
        if await store.therapist_count() > 0:
            return None
        password = secrets.token_urlsafe(9)
        therapist = await store.add_therapist(
            DEMO_EMAIL, "Demo therapeut", hash_password(password), moment
        )
        group = await store.create_group(DEMO_GROUP, "nl", therapist.id, DEMO_RULES, moment)
        for index, (name, role) in enumerate(DEMO_ROSTER):  # the roster keeps this order
            await store.add_to_roster(group.id, name, role, moment + timedelta(seconds=index))
        await store.open_session(group.id, therapist.id, moment)
    groups = await store.groups_of(therapist.id)
    if not groups:
        return None
    group = groups[0]
    expires = int(moment.timestamp()) + invite_days * 86400
    invites = tuple(
        (
            entry.display_name,
            f"{base_url}/join/"
            + make_invite(secret, InviteClaims(group.id, entry.id, entry.invite_serial, expires)),
        )
        for entry in await store.roster_of(group.id)
    )
    return Demo(DEMO_EMAIL, password, f"{base_url}/groups/{group.id}", invites)


def describe(demo: Demo, base_url: str) -> list[str]:
    """The lines `grouproom serve` prints."""
    lines = [f"  demo group '{DEMO_GROUP}': log in at {base_url}/login as {demo.email}"]
    if demo.password is not None:
        lines.append(f"    password (shown only now): {demo.password}")
    else:
        lines.append("    (its password was shown when the demo was made)")
    lines.append(f"    the group's page: {demo.group_url}")
    for name, link in demo.invites:
        lines.append(f"    invite link for {name}: {link}")
    return lines
