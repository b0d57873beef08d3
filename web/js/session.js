// One participation in a room: the signalling socket and the peer connection with the
// server, laid out as docs/protocol.md says (own audio and video first, then receive
// slots), and the events that change the grid. When the connection breaks (the socket
// or the media), it reconnects by itself with backoff: a new socket and a new peer
// connection, the same join step (a therapy session gives the same seat back), the
// same camera and microphone.
import { Signaling, SignalingError, signalingUrl } from "./signaling.js";
import { startCamera } from "./local-media.js";
import { SteadyVideo } from "./steady-video.js";

// The codecs the server forwards (Opus; VP8, H264 constrained baseline). Offering only
// these keeps the offer small (a browser lists a dozen video codecs on each of the 24
// m-lines otherwise, over the 64 KiB frame limit) and the answer unambiguous.
function isForwarded(codec) {
  const type = codec.mimeType.toLowerCase();
  if (type === "audio/opus" || type === "video/vp8") return true;
  if (type !== "video/h264") return false;
  const fmtp = (codec.sdpFmtpLine || "").toLowerCase();
  return fmtp.includes("packetization-mode=1") && fmtp.includes("profile-level-id=42e0");
}

function preferForwardedCodecs(transceiver) {
  if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver?.getCapabilities) return;
  const kind = transceiver.receiver.track.kind;
  const capabilities = RTCRtpReceiver.getCapabilities(kind);
  if (!capabilities) return;
  const codecs = capabilities.codecs.filter(isForwarded);
  if (codecs.length === 0) return;
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    // The browser's full list is still valid; only larger.
  }
}

// Causes after which coming back makes no sense (or is refused).
const FINAL_CAUSES = new Set([
  "left",
  "replaced",
  "removed",
  "session_ended",
  "in_use",
  "invite_invalid",
  "invite_expired",
  "session_not_open",
  "locked",
  "room_full",
  "login_required",
  "logged_out",
  "not_allowed",
  "rules_not_accepted",
]);
const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 8000;
const MEDIA_DISCONNECTED_MS = 8000; // "disconnected" this long: start again
const DEFAULT_GRACE_S = 60;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RoomSession {
  /**
   * callbacks: onJoined(joined, again), onParticipantJoined(participant),
   * onParticipantLeft(id, cause), onMediaState(id, audioMuted, videoMuted),
   * onTrack(id, kind, track or null), onMediaConnection(state), onReconnecting(active),
   * onEnded(cause). `again` is true when the join step ran after a reconnect.
   */
  constructor({ roomId, name, stream, audioMuted, videoMuted, cameraId, callbacks }) {
    this.roomId = roomId;
    this.name = name;
    this.stream = stream;
    this.audioTrack = stream ? stream.getAudioTracks()[0] || null : null;
    this.videoTrack = stream ? stream.getVideoTracks()[0] || null : null;
    this.audioMuted = audioMuted || this.audioTrack === null;
    this.videoMuted = videoMuted || this.videoTrack === null;
    this.cameraId = cameraId;
    this.callbacks = callbacks;
    this.signaling = null;
    this.pc = null;
    this.videoCaps = null;
    this.answered = false;
    this.pendingCandidates = [];
    this.pendingTracks = [];
    this.leaving = false;
    this.ended = false;
    this.finalCause = null; // set by the page when the server dismissed this socket
    this.joinStep = null;
    this.reconnecting = false;
    this.graceSeconds = DEFAULT_GRACE_S;
    this.disconnectedTimer = null;
    this.steadyVideo = new SteadyVideo();
  }

  async start() {
    // An open room holds no seat: after a reconnect this browser joins as a new
    // participant and names its old one by the token of the previous `joined`,
    // so that the others do not see it twice until the old connection times out.
    let rejoinToken = null;
    await this.startWith(async (signaling) => {
      const request = {
        room: this.roomId,
        name: this.name,
        audio_muted: this.audioMuted,
        video_muted: this.videoMuted,
      };
      if (rejoinToken) request.replaces = rejoinToken;
      const joined = await signaling.request("join", request);
      rejoinToken = joined.rejoin_token || null;
      return joined;
    });
  }

  /**
   * Connect, then `joinStep(signaling)` (a promise of what `joined` carries: receive
   * slots, ICE servers, video caps, participants), then the media. A therapy session
   * uses its own step: enter, and wait in the waiting room until admitted.
   */
  async startWith(joinStep) {
    this.joinStep = joinStep;
    await this.connectOnce(false);
  }

  /** One attempt: a socket, the join step, the peer connection. */
  async connectOnce(again) {
    const signaling = new Signaling(signalingUrl());
    this.signaling = signaling;
    this.answered = false;
    this.pendingCandidates = [];
    this.pendingTracks = [];
    signaling.on("participant_joined", (data) => {
      this.steadyVideo.joined(data.participant);
      this.callbacks.onParticipantJoined(data.participant);
    });
    signaling.on("participant_left", (data) => {
      this.steadyVideo.left(data.participant_id);
      this.callbacks.onParticipantLeft(data.participant_id, data.cause);
    });
    signaling.on("media_state", (data) =>
      this.callbacks.onMediaState(data.participant_id, data.audio_muted, data.video_muted),
    );
    signaling.on("connection_quality", (data) => {
      this.steadyVideo.quality(data.participant_id, data.quality, data.direction || "");
      if (this.callbacks.onConnectionQuality) {
        this.callbacks.onConnectionQuality(data.participant_id, data.quality, data.direction || "");
      }
    });
    signaling.on("track_published", (data) => this.trackEvent(data, true));
    signaling.on("track_removed", (data) => this.trackEvent(data, false));
    signaling.onClose((cause) => this.connectionClosed(signaling, cause));

    await signaling.connect();
    const joined = await this.joinStep(signaling);
    if (signaling !== this.signaling || this.ended) return;
    if (joined.reconnect_grace) this.graceSeconds = joined.reconnect_grace;
    this.videoCaps = joined.video;
    this.steadyVideo.reset(joined.participants, joined.you || { id: joined.participant_id });
    this.applyTrackState();
    this.callbacks.onJoined(joined, again);
    await this.connectMedia(joined);
  }

  connectionClosed(signaling, cause) {
    if (signaling !== this.signaling || this.ended) return; // an earlier attempt's socket
    if (this.leaving) {
      this.end("left");
      return;
    }
    const final = this.finalCause || (FINAL_CAUSES.has(cause) ? cause : null);
    if (final) this.end(final);
    else if (this.joinStep) this.reconnect();
    else this.end(cause || "connection_lost");
  }

  /** The connection broke: try again with backoff until the grace period is over. */
  async reconnect() {
    if (this.ended || this.reconnecting) return;
    this.reconnecting = true;
    this.callbacks.onReconnecting?.(true);
    const deadline = Date.now() + this.graceSeconds * 1000;
    let delay = FIRST_RETRY_MS;
    while (!this.ended) {
      this.dropConnection();
      if (Date.now() > deadline) {
        this.end("connection_lost");
        return;
      }
      await sleep(delay * (0.75 + Math.random() * 0.5));
      delay = Math.min(delay * 2, LONGEST_RETRY_MS);
      if (this.ended) return;
      if (navigator.onLine === false) continue;
      try {
        await this.connectOnce(true);
        if (this.ended) return;
        this.reconnecting = false;
        this.callbacks.onReconnecting?.(false);
        return;
      } catch (error) {
        const code = error && error.code;
        if (this.finalCause || FINAL_CAUSES.has(code)) {
          this.end(this.finalCause || code);
          return;
        }
      }
    }
  }

  /** Close the socket and the peer connection, keeping camera and microphone. */
  dropConnection() {
    clearTimeout(this.disconnectedTimer);
    const signaling = this.signaling;
    this.signaling = null;
    if (signaling) signaling.close();
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  async connectMedia(joined) {
    const pc = new RTCPeerConnection({ iceServers: joined.ice_servers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    this.audioTransceiver = pc.addTransceiver(this.audioTrack || "audio", { direction: "sendonly" });
    this.videoTransceiver = pc.addTransceiver(this.videoTrack || "video", { direction: "sendonly" });
    for (let slot = 0; slot < joined.receive_slots; slot++) {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    for (const transceiver of pc.getTransceivers()) preferForwardedCodecs(transceiver);
    pc.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate;
      const data = {
        candidate: candidate ? candidate.candidate : null,
        sdp_mid: candidate ? candidate.sdpMid : null,
        sdp_mline_index: candidate ? candidate.sdpMLineIndex : null,
      };
      if (this.answered) this.sendCandidate(data);
      else this.pendingCandidates.push(data);
    });
    pc.addEventListener("connectionstatechange", () => this.mediaStateChanged(pc));

    await pc.setLocalDescription(await pc.createOffer());
    const answer = await this.signaling.request("offer", { sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.answered = true;
    for (const data of this.pendingCandidates.splice(0)) this.sendCandidate(data);
    for (const [data, published] of this.pendingTracks.splice(0)) this.trackEvent(data, published);
    await this.applyVideoCaps();
  }

  mediaStateChanged(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    this.callbacks.onMediaConnection(state);
    clearTimeout(this.disconnectedTimer);
    // Without ICE restart (the server has none), a failed connection only comes
    // back as a new one.
    if (state === "failed") this.reconnect();
    else if (state === "disconnected") {
      this.disconnectedTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState !== "connected") this.reconnect();
      }, MEDIA_DISCONNECTED_MS);
    }
  }

  sendCandidate(data) {
    if (!this.signaling) return;
    this.signaling.request("ice_candidate", data).catch(() => {
      // A candidate the server cannot use is not fatal: ICE tries the others.
    });
  }

  trackEvent(data, published) {
    if (!this.answered) {
      this.pendingTracks.push([data, published]);
      return;
    }
    const transceiver = this.pc.getTransceivers().find((candidate) => candidate.mid === data.mid);
    if (!transceiver) return;
    const track = published ? transceiver.receiver.track : null;
    if (data.kind === "video") {
      this.steadyVideo.video(data.participant_id, published ? transceiver.receiver : null);
    }
    this.callbacks.onTrack(data.participant_id, data.kind, track);
  }

  async applyVideoCaps() {
    const caps = this.videoCaps;
    if (!caps || !this.videoTransceiver) return;
    const sender = this.videoTransceiver.sender;
    try {
      const parameters = sender.getParameters();
      if (!parameters.encodings || parameters.encodings.length === 0) parameters.encodings = [{}];
      parameters.encodings[0].maxBitrate = caps.max_bitrate;
      parameters.encodings[0].maxFramerate = caps.max_framerate;
      await sender.setParameters(parameters);
    } catch {
      // Older browsers refuse some parameters; the server's bandwidth estimate still caps.
    }
    if (this.videoTrack && this.videoTrack.applyConstraints) {
      this.videoTrack
        .applyConstraints({
          width: { max: caps.max_width },
          height: { max: caps.max_height },
          frameRate: { max: caps.max_framerate },
        })
        .catch(() => {});
    }
  }

  applyTrackState() {
    if (this.audioTrack) this.audioTrack.enabled = !this.audioMuted;
  }

  sendMediaState() {
    if (!this.signaling) return Promise.resolve();
    return this.signaling
      .request("set_media_state", { audio_muted: this.audioMuted, video_muted: this.videoMuted })
      .catch(() => {});
  }

  async setAudioMuted(muted) {
    if (!this.audioTrack) return;
    this.audioMuted = muted;
    this.applyTrackState();
    await this.sendMediaState();
  }

  /** Camera off stops the camera (its light goes out); camera on starts it again. */
  async setVideoMuted(muted) {
    if (muted) {
      this.videoMuted = true;
      if (this.videoTrack) this.videoTrack.stop();
      this.videoTrack = null;
      if (this.videoTransceiver) await this.videoTransceiver.sender.replaceTrack(null);
    } else {
      const track = await startCamera(this.cameraId, this.videoCaps);
      this.videoTrack = track;
      this.videoMuted = false;
      if (this.videoTransceiver) await this.videoTransceiver.sender.replaceTrack(track);
    }
    await this.sendMediaState();
    return this.videoTrack;
  }

  async leave() {
    this.leaving = true;
    if (this.signaling) {
      try {
        await this.signaling.request("leave");
      } catch (error) {
        if (!(error instanceof SignalingError)) throw error;
      }
      this.signaling.close();
    }
    this.end("left");
  }

  /** Give up after a failed start, without ending the local camera and microphone. */
  abort() {
    this.ended = true;
    if (this.pc) this.pc.close();
    if (this.signaling) this.signaling.close();
  }

  end(cause) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.disconnectedTimer);
    if (this.pc) this.pc.close();
    if (this.signaling) this.signaling.close();
    for (const track of [this.audioTrack, this.videoTrack]) if (track) track.stop();
    this.callbacks.onEnded(cause);
  }
}
