// One participant's tile: video, name, muted icon, raised hand, speaking indicator,
// initials.
import { t } from "./i18n.js";
import { watchSpeaking } from "./audio-level.js";
import { nextJudgement } from "./own-controls.js";

const SVG_NS = "http://www.w3.org/2000/svg";

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  const first = Array.from(words[0])[0] || "";
  const last = words.length > 1 ? Array.from(words[words.length - 1])[0] || "" : "";
  return (first + last).toUpperCase();
}

function mutedIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute(
    "d",
    "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 " +
      "6.9V21h2v-3.1A7 7 0 0 0 19 11h-2zM3.3 2.9 2 4.2l18 18 1.3-1.3z",
  );
  svg.append(path);
  return svg;
}

// A raised hand drawn here: an emoji needs a font that not every device has.
function handIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const parts = [
    ["rect", { x: 6, y: 4, width: 2.6, height: 10, rx: 1.3 }],
    ["rect", { x: 9.2, y: 2, width: 2.6, height: 12, rx: 1.3 }],
    ["rect", { x: 12.4, y: 3, width: 2.6, height: 11, rx: 1.3 }],
    ["rect", { x: 15.6, y: 5, width: 2.6, height: 9, rx: 1.3 }],
    ["path", { d: "M6 12h12.2v4a6 6 0 0 1-6 6H12a6 6 0 0 1-6-6z" }],
    ["rect", { x: 2.2, y: 10, width: 2.6, height: 7, rx: 1.3, transform: "rotate(-30 3.5 13.5)" }],
  ];
  for (const [name, attributes] of parts) {
    const part = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) part.setAttribute(key, String(value));
    svg.append(part);
  }
  return svg;
}

// Three bars of rising height; a weak line lights two, a bad one only the first.
function connectionIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  for (const [index, height] of [8, 14, 20].entries()) {
    const bar = document.createElementNS(SVG_NS, "rect");
    const attributes = { x: 2 + index * 8, y: 22 - height, width: 5, height, rx: 1.2 };
    for (const [key, value] of Object.entries(attributes)) bar.setAttribute(key, String(value));
    bar.setAttribute("class", `bar bar-${index + 1}`);
    svg.append(bar);
  }
  return svg;
}

export class Tile {
  constructor(id, name, { self = false } = {}) {
    this.id = id;
    this.name = name;
    this.self = self;
    this.audioMuted = false;
    this.videoMuted = false;
    // The member chose not to see this video (a weak line): initials, no frozen picture.
    this.videoPaused = false;
    this.awaitingFrame = false; // shown again, no new frame yet
    this.audioTrack = null;
    this.videoTrack = null;
    this.reconnecting = false;
    this.handRaised = false; // therapy sessions only
    this.signal = null; // a member's open signal, on a therapist's page: its kind
    this.connection = "good"; // how well their line carries the room, as the server judges it
    this.connectionDirection = ""; // the way it is weak in: "up", "down", "both"
    this.widenedFrom = ""; // the direction "both" was widened from at the same level
    this.stopWatching = () => {};
    this.speaking = false;
    this.onSpeaking = () => {}; // (speaking): the grid passes it on

    this.element = document.createElement("div");
    this.element.className = "tile";
    this.element.setAttribute("role", "listitem");
    this.element.dataset.participantId = id;
    this.element.dataset.speaking = "false";
    if (self) this.element.dataset.self = "true";

    this.video = document.createElement("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.setAttribute("playsinline", "");
    this.video.muted = self;
    this.video.addEventListener("resize", () => this.render());
    this.video.addEventListener("playing", () => this.render());

    this.initialsElement = document.createElement("div");
    this.initialsElement.className = "tile-initials";
    this.initialsElement.setAttribute("aria-hidden", "true");

    const label = document.createElement("div");
    label.className = "tile-label";
    this.mutedElement = document.createElement("span");
    this.mutedElement.className = "tile-muted";
    this.mutedElement.setAttribute("role", "img");
    this.mutedElement.append(mutedIcon());
    this.mutedElement.hidden = true;
    this.nameElement = document.createElement("span");
    this.nameElement.className = "tile-name";
    // A weak or bad line (the server's judgement), so that a frozen picture or
    // broken speech is not taken for the person withdrawing.
    this.connectionElement = document.createElement("span");
    this.connectionElement.className = "tile-connection";
    this.connectionElement.setAttribute("role", "img");
    this.connectionElement.append(connectionIcon());
    this.connectionElement.hidden = true;
    label.append(this.mutedElement, this.nameElement, this.connectionElement);

    // Shown while the person's connection is broken and their seat is held.
    this.reconnectingElement = document.createElement("div");
    this.reconnectingElement.className = "tile-reconnecting";
    this.reconnectingElement.hidden = true;

    // A raised hand, where a therapist sees it without opening the participant list.
    this.handElement = document.createElement("span");
    this.handElement.className = "tile-hand";
    this.handElement.setAttribute("role", "img");
    this.handElement.append(handIcon());
    this.handElement.hidden = true;

    // A member's signal that no therapist has marked as seen (therapists' pages).
    this.signalElement = document.createElement("span");
    this.signalElement.className = "tile-signal";
    this.signalElement.hidden = true;

    this.element.append(
      this.video,
      this.initialsElement,
      this.reconnectingElement,
      this.handElement,
      this.signalElement,
      label,
    );
    this.render();
  }

  setTracks({ audio = this.audioTrack, video = this.videoTrack } = {}) {
    const audioChanged = audio !== this.audioTrack;
    this.audioTrack = audio;
    this.videoTrack = video;
    const tracks = [this.self ? null : audio, video].filter(Boolean);
    if (tracks.length === 0) {
      this.video.srcObject = null;
    } else {
      this.video.srcObject = new MediaStream(tracks);
      this.video.play().catch(() => {});
    }
    if (audioChanged) {
      this.stopWatching();
      this.stopWatching = watchSpeaking(audio, (speaking) => this.setSpeaking(speaking));
    }
    this.render();
  }

  setMediaState(audioMuted, videoMuted) {
    this.audioMuted = audioMuted;
    this.videoMuted = videoMuted;
    if (audioMuted) this.setSpeaking(false);
    this.render();
  }

  setVideoPaused(paused) {
    if (paused === this.videoPaused) return;
    this.videoPaused = paused;
    // Shown again: until a new frame arrives (the server resumes at a keyframe it asks
    // for, a round trip or more), the video element would show the picture from before
    // the pause, perhaps minutes old. Initials until then, where the browser can tell.
    this.awaitingFrame =
      !paused && this.video.videoWidth > 0 && "requestVideoFrameCallback" in this.video;
    if (this.awaitingFrame) {
      this.video.requestVideoFrameCallback(() => {
        this.awaitingFrame = false;
        this.render();
      });
    }
    this.render();
  }

  setHandRaised(raised) {
    if (raised === this.handRaised) return;
    this.handRaised = raised;
    this.render();
  }

  setSignal(kind) {
    if (kind === this.signal) return;
    this.signal = kind;
    this.render();
  }

  /** The server's judgement of this person's line, and the way it is weak in:
   * "up" (what she sends), "down" (what she receives), "both", "" when good. */
  setConnection(quality, direction = "") {
    const next = nextJudgement(this, quality, direction);
    if (next.connection === this.connection && next.connectionDirection === this.connectionDirection) {
      return;
    }
    Object.assign(this, next);
    this.render();
  }

  setReconnecting(reconnecting) {
    this.reconnecting = reconnecting;
    if (reconnecting) this.setSpeaking(false);
    this.render();
  }

  setSpeaking(speaking) {
    const value = speaking && !this.audioMuted;
    this.element.classList.toggle("speaking", value);
    this.element.dataset.speaking = String(value);
    if (value !== this.speaking) {
      this.speaking = value;
      this.onSpeaking(value);
    }
  }

  render() {
    this.nameElement.textContent = this.self ? t("room.you", { name: this.name }) : this.name;
    this.initialsElement.textContent = initials(this.name);
    this.mutedElement.hidden = !this.audioMuted;
    this.mutedElement.setAttribute("aria-label", t("room.muted"));
    const showVideo =
      !this.videoMuted &&
      !this.videoPaused &&
      !this.awaitingFrame &&
      this.videoTrack !== null &&
      this.video.videoWidth > 0;
    this.element.classList.toggle("video-off", !showVideo);
    this.initialsElement.hidden = showVideo;
    this.element.classList.toggle("reconnecting", this.reconnecting);
    this.element.dataset.reconnecting = String(this.reconnecting);
    this.reconnectingElement.hidden = !this.reconnecting;
    this.reconnectingElement.textContent = t("tile.reconnecting");
    this.handElement.hidden = !this.handRaised;
    this.handElement.setAttribute("aria-label", t("tile.handRaised"));
    const weakLine = this.connection !== "good" && !this.reconnecting;
    this.connectionElement.hidden = !weakLine;
    this.connectionElement.dataset.quality = this.connection;
    const connectionText = weakLine ? t(`tile.connection.${this.connection}`) : "";
    this.connectionElement.setAttribute("aria-label", connectionText);
    this.connectionElement.title = connectionText;
    this.element.dataset.connection = this.connection;
    this.element.dataset.connectionDirection = this.connectionDirection;
    this.signalElement.hidden = !this.signal;
    this.signalElement.dataset.kind = this.signal || "";
    this.signalElement.textContent = this.signal
      ? t(this.signal === "need_help" ? "tile.needHelp" : "tile.needMoment")
      : "";
  }

  remove() {
    this.stopWatching();
    this.video.srcObject = null;
    this.element.remove();
  }
}
