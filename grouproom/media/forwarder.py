"""Forwarder: the media of one room.

Each participant has one Peer. When a participant connects, every other
participant's publications are bound to free receive slots of the newcomer, and
the newcomer's publications to a free slot of every other participant; each
binding is a Subscription. Leaving releases the slots, so the same slots serve
whoever joins next without renegotiation.
"""

from __future__ import annotations

import logging

from grouproom.media import udp_mux
from grouproom.media.contract import (
    COUNTERS,
    CandidateError,
    ForwarderEvents,
    Kind,
    MediaSettings,
    OfferError,
)
from grouproom.media.hooks import (
    install_connect_guard,
    install_datagram_guard,
    install_host_addresses,
)
from grouproom.media.peer import Peer, Slot
from grouproom.media.subscription import Subscription

logger = logging.getLogger(__name__)

KINDS: tuple[Kind, Kind] = ("audio", "video")


class Forwarder:
    """Receives each participant's encoded audio and video once and forwards the
    same packets to every other participant of the room.

    One peer connection per participant. The browser offers: m-line 0 audio
    (sendonly, its microphone), m-line 1 video (its camera), then up to
    `settings.receive_slots` pairs of audio + video m-lines with direction
    recvonly, all in one BUNDLE group. The forwarder answers, and tells signalling
    through `ForwarderEvents.track_published` which receive mid carries whom.
    """

    def __init__(self, settings: MediaSettings, events: ForwarderEvents) -> None:
        self.settings = settings
        self.events = events
        self.peers: dict[str, Peer] = {}
        # The counters of peers that left, so that totals never go backwards.
        self.retired: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # Per subscriber, the publishers whose video it shows (set_visible_video);
        # a subscriber without an entry gets everyone's.
        self.visible_video: dict[str, frozenset[str]] = {}
        install_host_addresses(settings.ice_addresses)
        install_datagram_guard()
        install_connect_guard()
        udp_mux.install_gathering()
        # The process's shared media sockets, taken at the first connect.
        self.mux: udp_mux.UdpMux | None = None

    async def connect(self, participant_id: str, offer_sdp: str, publishes: bool = True) -> str:
        """Accept a participant's offer and return the SDP answer (with the server's
        ICE candidates in it). Raises OfferError for an offer it cannot use.

        A participant who does not publish (an observer: sees and hears, is neither
        seen nor heard) receives everyone but takes no receive slot of anyone."""
        if participant_id in self.peers:
            raise OfferError("this participant already sent an offer")
        if self.mux is None:
            self.mux = udp_mux.acquire(
                self.settings.ice_addresses,
                self.settings.media_port,
                self.settings.media_bind_address,
            )
        peer = Peer(
            participant_id, self.settings, self._peer_failed, self.mux, self._quality_changed
        )
        try:
            answer = await peer.accept_offer(offer_sdp)
        except BaseException:
            await peer.close()
            raise
        if participant_id in self.peers:  # connected twice concurrently
            await peer.close()
            raise OfferError("this participant already sent an offer")
        peer.publishes = publishes
        others = list(self.peers.values())
        self.peers[participant_id] = peer
        for other in others:
            if other.publishes:
                self._subscribe(subscriber=peer, publisher=other)
            if publishes:
                self._subscribe(subscriber=other, publisher=peer)
        return answer

    async def add_ice_candidate(
        self,
        participant_id: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        """Add a trickled remote candidate ("candidate:..." line, or None for the
        end of candidates). Raises CandidateError when it cannot be used."""
        peer = self.peers.get(participant_id)
        if peer is None:
            raise CandidateError("an ICE candidate before the offer")
        await peer.add_ice_candidate(candidate, sdp_mid, sdp_mline_index)

    def set_forwarding(self, participant_id: str, kind: Kind, enabled: bool) -> None:
        """Stop (or resume) forwarding one kind of a participant's media, e.g. the
        audio of a muted member. Subscribers see no gap in sequence numbers."""
        peer = self.peers.get(participant_id)
        if peer is not None:
            peer.publications[kind].set_enabled(enabled)

    def set_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        """Forward to the subscriber only the video of the publishers it shows. A
        video it stops showing pauses; one it shows again resumes at a keyframe
        (asked of the publisher at once) with continuous sequence numbers and
        timestamps. Ids of people not in the room are ignored."""
        self.visible_video[subscriber_id] = publisher_ids
        peer = self.peers.get(subscriber_id)
        if peer is None:  # applied when the subscriber's media connects
            return
        for slot in peer.slots:
            subscription = slot.video.subscription
            if subscription is not None and slot.publisher_id is not None:
                subscription.set_wanted(slot.publisher_id in publisher_ids)

    def _shows_video(self, subscriber_id: str, publisher_id: str) -> bool:
        visible = self.visible_video.get(subscriber_id)
        return visible is None or publisher_id in visible

    async def disconnect(self, participant_id: str) -> None:
        """Close the participant's peer connection and release everything it held.
        Safe to call twice."""
        self.visible_video.pop(participant_id, None)
        peer = self.peers.pop(participant_id, None)
        if peer is None:
            return
        for other in self.peers.values():
            slot = other.slot_of(participant_id)
            if slot is not None:
                self._release(other, slot)
        for slot in peer.slots:
            if slot.publisher_id is not None:
                self._release(peer, slot, notify=False)
        for name, value in self._peer_counters(peer).items():
            self.retired[name] += value
        await peer.close()

    async def close(self) -> None:
        """Disconnect everyone."""
        for participant_id in list(self.peers):
            await self.disconnect(participant_id)
        if self.mux is not None:
            await udp_mux.release(self.mux)
            self.mux = None

    def publication_stats(self, participant_id: str, kind: Kind) -> dict[str, int]:
        """Counters of one publication, for tests and metrics."""
        publication = self.peers[participant_id].publications[kind]
        return {
            "packets_received": publication.packets_received,
            "keyframe_requests_sent": publication.keyframe_requests_sent,
            "nacks_sent": publication.nacks_sent,
            "subscriptions": len(publication.subscriptions),
        }

    def counters(self) -> dict[str, int]:
        """Totals since the room opened (contract.COUNTERS), never decreasing."""
        totals = dict(self.retired)
        for peer in self.peers.values():
            for name, value in self._peer_counters(peer).items():
                totals[name] += value
        return totals

    async def read_counters(self) -> dict[str, int]:
        return self.counters()

    @staticmethod
    def _peer_counters(peer: Peer) -> dict[str, int]:
        """What a peer's publications received and its receive slots sent. A slot
        keeps its counts across the publishers it carried (ForwardingSender)."""
        counts = dict.fromkeys(COUNTERS, 0)
        counts["incoming_over_budget"] = peer.incoming.dropped
        counts["connection_worsened"] = peer.quality.worsened
        for publication in peer.publications.values():
            counts["nacks_sent"] += publication.nacks_sent
            counts["keyframe_requests_sent"] += publication.keyframe_requests_sent
            counts["packets_lost"] += publication.packets_lost
            counts["packets_not_recovered"] += publication.packets_not_recovered
        for slot in peer.slots:
            for kind in KINDS:
                sender = slot.sender(kind)
                counts[f"forwarded_packets_{kind}"] += sender.packets_sent
                counts[f"forwarded_bytes_{kind}"] += sender.octets_sent
                counts["retransmitted_packets"] += sender.retransmissions
                counts["congestion_limits"] += sender.congestion.episodes
        return counts

    # -- internals ----------------------------------------------------------------

    def _subscribe(self, subscriber: Peer, publisher: Peer) -> None:
        slot = subscriber.free_slot()
        if slot is None:
            logger.warning("no free receive slot for a publisher: the room is over capacity")
            return
        slot.publisher_id = publisher.participant_id
        for kind in KINDS:
            sender = slot.sender(kind)
            publication = publisher.publications[kind]
            wanted = kind == "audio" or self._shows_video(
                subscriber.participant_id, publisher.participant_id
            )
            subscription = Subscription(publication, sender, wanted)
            sender.subscription = subscription
            publication.subscriptions.append(subscription)
            if sender.started:
                subscription.sender_started()
        for kind in KINDS:
            mid = slot.sender(kind).mid or self._mid_of(subscriber, slot, kind)
            self.events.track_published(
                subscriber.participant_id, publisher.participant_id, kind, mid
            )

    def _release(self, subscriber: Peer, slot: Slot, notify: bool = True) -> None:
        publisher_id = slot.publisher_id
        slot.publisher_id = None
        for kind in KINDS:
            sender = slot.sender(kind)
            subscription = sender.subscription
            sender.subscription = None
            if subscription is None:
                continue
            subscription.close()
            if subscription in subscription.publication.subscriptions:
                subscription.publication.subscriptions.remove(subscription)
            if notify and publisher_id is not None:
                self.events.track_removed(
                    subscriber.participant_id,
                    publisher_id,
                    kind,
                    sender.mid or self._mid_of(subscriber, slot, kind),
                )

    @staticmethod
    def _mid_of(peer: Peer, slot: Slot, kind: Kind) -> str:
        for transceiver in peer.pc.getTransceivers():
            if transceiver.sender is slot.sender(kind):
                return str(transceiver.mid)
        raise LookupError("slot sender without transceiver")

    def _peer_failed(self, participant_id: str) -> None:
        if participant_id in self.peers:
            self.events.connection_lost(participant_id)

    def _quality_changed(self, participant_id: str, quality: str, direction: str) -> None:
        if participant_id in self.peers:
            self.events.connection_quality(participant_id, quality, direction)
