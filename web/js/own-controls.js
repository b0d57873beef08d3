// The microphone, camera and others' video buttons of the room page and the session
// page: the session changes, and the tiles show it at once.
import { t } from "./i18n.js";
import { failureKey } from "./local-media.js";

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

// A member on a weak line can turn the others' video off: she still hears everyone,
// and her downlink carries audio only. The choice is remembered on this device.
const OTHERS_VIDEO_OFF_KEY = "grouproom.othersVideoOff";

/** Whether this device was last set to show nobody's video. */
export function othersVideoOffChoice() {
  try {
    return localStorage.getItem(OTHERS_VIDEO_OFF_KEY) === "true";
  } catch {
    return false; // No storage: video on, as by default.
  }
}

/**
 * Turn the others' video off or on: their tiles show initials at once, and the server
 * is told to stop (or resume) forwarding it (`visibleVideo`, may be null before joining).
 */
export function setOthersVideoOff(off, grid, visibleVideo) {
  grid.pauseOthersVideo(off);
  if (visibleVideo) visibleVideo.setOthersOff(off);
  try {
    if (off) localStorage.setItem(OTHERS_VIDEO_OFF_KEY, "true");
    else localStorage.removeItem(OTHERS_VIDEO_OFF_KEY);
  } catch {
    // Private browsing: the choice lasts for this page only.
  }
}

/**
 * The button's text and state, and the hint shown while the line is too weak for the
 * others' video (weak-line.js) and it is still on. Returns the status line's key
 * (`connected` says what is off).
 */
export function renderOthersVideo({ button, hint }, off, weakLine, statusKey) {
  button.textContent = off ? t("room.othersVideoOn") : t("room.othersVideoOff");
  button.setAttribute("aria-pressed", String(off));
  const suggest = weakLine && !off;
  button.classList.toggle("suggested", suggest);
  hint.hidden = !suggest;
  hint.textContent = suggest ? t("hint.weakLine") : "";
  return statusKey === "status.connected" && off ? "status.othersVideoOff" : statusKey;
}

/**
 * What her page says about her own line, from the server's judgement on her own tile
 * (`selfTile`, may be null): the notice's key (null while the line is good), and
 * whether to suggest turning her camera off. That helps when her way out is the weak
 * one and the camera sends (`cameraSending`): video is most of what she sends.
 */
export function ownLineAdvice(selfTile, cameraSending) {
  if (!selfTile || selfTile.connection === "good") return { key: null, suggestCamera: false };
  const suggestCamera = selfTile.connectionDirection === "up" && cameraSending;
  return {
    key: suggestCamera ? "notice.connectionWeakSending" : "notice.connectionWeak",
    suggestCamera,
  };
}
