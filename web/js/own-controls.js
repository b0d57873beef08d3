// The microphone, camera and others' video buttons of the room page and the session
// page: the session changes, and the tiles show it at once.
import { t } from "./i18n.js";
import { failureKey } from "./local-media.js";
import { SpeakerFocus } from "./speaker-focus.js";

function ownTile(grid) {
  return [...grid.tiles.values()].find((tile) => tile.self);
}

/** Microphone on or off. The tile changes at once (`render`); telling the others follows. */
export async function toggleMicrophone(session, grid, render) {
  const told = session.setAudioMuted(!session.audioMuted);
  const self = ownTile(grid);
  if (self) self.setMediaState(session.audioMuted, session.videoMuted);
  render();
  await told;
}

/** Camera off (its light goes out) or on again. Returns the text key of a failure, or null. */
export async function toggleCamera(session, grid) {
  let errorKey = null;
  try {
    await session.setVideoMuted(!session.videoMuted);
  } catch (error) {
    errorKey = failureKey(error);
  }
  const self = ownTile(grid);
  if (self) {
    self.setTracks({ video: session.videoTrack });
    self.setMediaState(session.audioMuted, session.videoMuted);
  }
  return errorKey;
}

// A member on a weak line can see only who speaks (speaker-focus.js), or turn the
// others' video off altogether: she still hears everyone, and her downlink carries
// two to four videos, or audio only. The choice is remembered on this device.
const OTHERS_VIDEO_KEY = "grouproom.othersVideo"; // "speakers" or "off"; absent: everyone
const OTHERS_VIDEO_OFF_KEY = "grouproom.othersVideoOff"; // "true": off (kept until 2026-12-05)
const OTHERS_VIDEO_MODES = ["all", "speakers", "off"];
// How often speaking is counted while "only who speaks" is chosen.
const SPEAKER_CHECK_MS = 250;

/** What this device was last set to show of the others' video: "all", "speakers" or "off". */
export function othersVideoChoice() {
  try {
    const mode = localStorage.getItem(OTHERS_VIDEO_KEY);
    if (OTHERS_VIDEO_MODES.includes(mode)) return mode;
    return localStorage.getItem(OTHERS_VIDEO_OFF_KEY) === "true" ? "off" : "all";
  } catch {
    return "all"; // No storage: everyone's video, as by default.
  }
}

function saveOthersVideoChoice(mode) {
  try {
    localStorage.removeItem(OTHERS_VIDEO_OFF_KEY);
    if (mode === "all") localStorage.removeItem(OTHERS_VIDEO_KEY);
    else localStorage.setItem(OTHERS_VIDEO_KEY, mode);
  } catch {
    // Private browsing: the choice lasts for this page only.
  }
}

/**
 * Whose video the page shows: everyone's ("all"), the therapists' and whoever speaks
 * ("speakers"), or nobody's ("off"). The tiles change at once; the server is told to
 * forward only those (`attach` the page's VideoVisibility once in the room).
 * `pinned()`: ids always shown with "speakers" (the therapists; none in an open room).
 */
export class OthersVideo {
  constructor(grid, { pinned = () => [], onChange = () => {} } = {}) {
    this.grid = grid;
    this.pinned = pinned;
    this.onChange = onChange;
    this.mode = othersVideoChoice();
    this.focus = new SpeakerFocus();
    this.visibility = null;
    this.timer = null;
    grid.onSpeaking = (id, speaking) => {
      // Counted whatever the mode, so that "only who speaks" starts from what was said.
      if (this.focus.speaking(id, speaking, performance.now()) && this.mode === "speakers") {
        this.apply();
      }
    };
    this.refresh(); // not onChange: the page is still being set up
  }

  /** Tell the server through `visibility` (a VideoVisibility; null when out of the room). */
  attach(visibility) {
    this.visibility = visibility;
    this.apply();
  }

  setMode(mode) {
    if (!OTHERS_VIDEO_MODES.includes(mode)) return;
    this.mode = mode;
    saveOthersVideoChoice(mode);
    this.apply();
  }

  /** Someone left: not among the last speakers any more. */
  forget(id) {
    if (this.focus.forget(id)) this.apply();
  }

  /** The ids whose video is shown (null: everyone's). */
  allowed() {
    if (this.mode === "off") return new Set();
    if (this.mode === "speakers") return this.focus.shown(this.pinned());
    return null;
  }

  /** Show and ask for what the mode and the last speakers say, and tell the page. */
  apply() {
    this.refresh();
    this.onChange();
  }

  /** Show and ask for what the mode and the last speakers say; the page calls it when
   * the people pinned (the therapists) may have changed. */
  refresh() {
    const allowed = this.allowed();
    this.grid.showOthersVideo(allowed);
    if (this.visibility) this.visibility.setAllowed(allowed);
    if (this.mode === "speakers" && this.timer === null) {
      this.timer = setInterval(() => {
        if (this.focus.update(performance.now())) this.apply();
      }, SPEAKER_CHECK_MS);
    } else if (this.mode !== "speakers" && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/**
 * The others'-video button and the hint above the controls. The button turns the
 * others' video off or on again. The hint: while the line is too weak for everyone's
 * video, a suggestion, with a button for "only who speaks"; while only who speaks is
 * shown, what she sees, with a button for everyone's video again. Returns the status
 * line's key (`connected` says what is off).
 */
export function renderOthersVideo(
  { button, hint, hintText, modeButton },
  mode,
  weakLine,
  statusKey,
  inSession = false,
) {
  const off = mode === "off";
  button.textContent = off ? t("room.othersVideoOn") : t("room.othersVideoOff");
  button.setAttribute("aria-pressed", String(off));
  button.classList.toggle("suggested", weakLine && !off);
  const hintKey =
    mode === "speakers"
      ? inSession
        ? "hint.speakersOnlySession"
        : "hint.speakersOnly"
      : weakLine && !off
        ? "hint.weakLine"
        : null;
  hint.hidden = hintKey === null;
  // A live region: set only when it changes, or a screen reader may read it again.
  const text = hintKey ? t(hintKey) : "";
  if (hintText.textContent !== text) hintText.textContent = text;
  modeButton.textContent = mode === "speakers" ? t("room.everyonesVideo") : t("room.onlyWhoSpeaks");
  modeButton.dataset.mode = mode === "speakers" ? "all" : "speakers";
  return statusKey === "status.connected" && off ? "status.othersVideoOff" : statusKey;
}

/**
 * The server's judgement of someone's line after a `connection_quality` (`quality`,
 * `direction`), from the one before (`previous`: `{connection, connectionDirection,
 * widenedFrom}`): the level ("good" for anything but "weak" and "bad"), the way it
 * is weak in ("" when good) and, when the server widened "up" or "down" to "both"
 * while the level held, the way it was widened from ("" otherwise; a new level comes
 * with its own direction).
 */
export function nextJudgement(previous, quality, direction) {
  const connection = quality === "weak" || quality === "bad" ? quality : "good";
  const connectionDirection = connection === "good" ? "" : direction;
  const widened = connection === previous.connection && connectionDirection === "both";
  const widenedFrom = widened ? previous.widenedFrom || previous.connectionDirection : "";
  return { connection, connectionDirection, widenedFrom };
}

/**
 * What her page says about her own line, from the server's judgement on her own tile
 * (`selfTile`, may be null): the notice's key (null while the line is good), and
 * whether to suggest turning her camera off. That helps when her way out is the weak
 * one and the camera sends (`cameraSending`): video is most of what she sends. A
 * judgement told `up` may widen to `both` while its level holds (her way down has
 * become as weak): the suggestion stays then, rather than being taken back.
 */
export function ownLineAdvice(selfTile, cameraSending) {
  if (!selfTile || selfTile.connection === "good") return { key: null, suggestCamera: false };
  const direction = selfTile.connectionDirection;
  const wayOut = direction === "up" || (direction === "both" && selfTile.widenedFrom === "up");
  const suggestCamera = wayOut && cameraSending;
  return {
    key: suggestCamera ? "notice.connectionWeakSending" : "notice.connectionWeak",
    suggestCamera,
  };
}
