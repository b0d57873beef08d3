"""An open room has no seat to hold: a browser whose connection broke joins again
as a new participant and names its old one by the rejoin token of its `joined`,
so the others do not see the member twice until the old socket times out. Real
WebSockets; the old socket is left open, as a connection that broke without a
word looks to the server."""

from __future__ import annotations

from tests.protocol.conftest import Connect


async def test_joining_again_with_the_token_removes_the_old_participant(
    connect: Connect,
) -> None:
    anna, bram = await connect(), await connect()
    first = await anna.join("demo", "Anna")
    token = first["rejoin_token"]
    assert isinstance(token, str) and len(token) == 32
    await bram.join("demo", "Bram")

    again = await (await connect()).join("demo", "Anna", replaces=token)
    left = await bram.event("participant_left")
    assert left["data"] == {"participant_id": first["participant_id"], "cause": "connection_lost"}
    joined = await bram.event("participant_joined")
    assert joined["data"]["participant"]["id"] == again["participant_id"]
    assert [p["name"] for p in again["participants"]] == ["Bram"]
    assert again["rejoin_token"] != token
    # The old socket is told and closed.
    assert await anna.closed() == 1000
    assert any(
        e["type"] == "closing" and e["data"]["cause"] == "connection_lost" for e in anna.events
    )
    # A token is good once: used again, it names nobody.
    carla = await (await connect()).join("demo", "Carla", replaces=token)
    assert sorted(p["name"] for p in carla["participants"]) == ["Anna", "Bram"]


async def test_a_token_that_names_nobody_here_removes_no_one(connect: Connect) -> None:
    anna, bram = await connect(), await connect()
    token = (await anna.join("demo", "Anna"))["rejoin_token"]
    await bram.join("other", "Bram")
    # Anna's token in another room, and a made-up one: nobody leaves.
    cor = await (await connect()).join("other", "Cor", replaces=token)
    assert [p["name"] for p in cor["participants"]] == ["Bram"]
    dirk = await (await connect()).join("demo", "Dirk", replaces="x" * 32)
    assert [p["name"] for p in dirk["participants"]] == ["Anna"]
    # Nor one with characters beyond ASCII (once a server error in the comparison).
    eva = await (await connect()).join("demo", "Eva", replaces="é" * 32)
    assert [p["name"] for p in eva["participants"]] == ["Anna", "Dirk"]
    assert all(e["type"] != "participant_left" for e in bram.events)
    assert await anna.expect("ping") == {}


async def test_a_full_room_takes_the_returning_member(connect: Connect) -> None:
    """The old participant leaves before the new one is counted."""
    clients = [await connect() for _ in range(12)]  # the default maximum
    tokens = [(await c.join("full", f"P{n}"))["rejoin_token"] for n, c in enumerate(clients)]
    late = await connect()
    assert (await late.error("join", {"room": "full", "name": "Late"}))["code"] == "room_full"
    back = await (await connect()).join("full", "P3", replaces=tokens[3])
    assert len(back["participants"]) == 11


async def test_a_malformed_token_is_invalid_data(connect: Connect) -> None:
    error = await (await connect()).error("join", {"room": "demo", "name": "A", "replaces": 5})
    assert error["code"] == "invalid_data"
    assert "replaces" in error["message"]
    error = await (await connect()).error(
        "join", {"room": "demo", "name": "A", "replaces": "short"}
    )
    assert error["code"] == "invalid_data"
