// The room page: pre-join (name, preview, devices), the grid with its controls, and
// the screen shown after leaving.
import { applyTexts, onLanguageChange, setUpLanguage, t } from "./i18n.js";
import { resumeAudio } from "./audio-level.js";
import { addDeviceChecks, previewDevices, stopMicrophoneLevel } from "./devices.js";
import {
  OthersVideo,
  ownLineAdvice,
  renderOthersVideo,
  toggleCamera,
  toggleMicrophone,
} from "./own-controls.js";
import { Grid } from "./grid.js";
import { Tile } from "./tile.js";
import { RoomSession } from "./session.js";
import { watchVisibleVideo } from "./video-visibility.js";
import { watchWeakLine } from "./weak-line.js";

const NAME_KEY = "grouproom.name";
const byId = (id) => document.getElementById(id);

const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "demo");
const elements = {
  prejoin: byId("prejoin"),
  room: byId("room"),
  left: byId("left"),
  form: byId("join-form"),
  name: byId("name"),
  camera: byId("camera-select"),
  microphone: byId("microphone-select"),
  preview: byId("preview"),
  previewOff: byId("preview-off"),
  level: addDeviceChecks(byId("device-checks")),
  mediaError: byId("media-error"),
  joinError: byId("join-error"),
  join: byId("join-button"),
  mute: byId("mute-button"),
  cameraButton: byId("camera-button"),
  othersVideo: byId("others-video-button"),
  weakLineHint: byId("weak-line-hint"),
  weakLineText: byId("weak-line-text"),
  videoMode: byId("video-mode-button"),
  ownLineNotice: byId("own-line-notice"),
  leave: byId("leave-button"),
  rejoin: byId("rejoin-button"),
  leftTitle: byId("left-title"),
  leftMessage: byId("left-message"),
  status: byId("status"),
  roomLabel: byId("room-label"),
};

const grid = new Grid(byId("grid"));
let localStream = null;
let mediaErrorKey = null;
let joinErrorKey = null;
let joinErrorParams = {};
let statusKey = null;
let endedCause = null;
let session = null;
let visibleVideo = null;
let weakLine = null; // WeakLineWatch while in the room
let selfId = null; // this participant's id in the room (a new one after a reconnect)
// Whose video she sees; render() is defined below and called once the page is set up.
const othersVideo = new OthersVideo(grid, { onChange: () => render() });

function setText(element, key, params) {
  element.textContent = key ? t(key, params) : "";
  element.hidden = !key;
}

function render() {
  elements.roomLabel.textContent = t("room.label", { room: roomId });
  setText(elements.mediaError, mediaErrorKey);
  setText(elements.joinError, joinErrorKey, joinErrorParams);
  const shownStatus = renderOthersVideo(
    {
      button: elements.othersVideo,
      hint: elements.weakLineHint,
      hintText: elements.weakLineText,
      modeButton: elements.videoMode,
    },
    othersVideo.mode,
    Boolean(weakLine && weakLine.weak),
    statusKey,
  );
  elements.status.textContent = shownStatus ? t(shownStatus) : "";
  byId("grid").setAttribute("aria-label", t("room.gridLabel"));
  const audioMuted = session ? session.audioMuted : false;
  const videoMuted = session ? session.videoMuted : false;
  elements.mute.textContent = audioMuted ? t("room.unmute") : t("room.mute");
  elements.mute.setAttribute("aria-pressed", String(audioMuted));
  elements.mute.disabled = !session || !session.audioTrack;
  elements.cameraButton.textContent = videoMuted ? t("room.cameraOn") : t("room.cameraOff");
  elements.cameraButton.setAttribute("aria-pressed", String(videoMuted));
  elements.cameraButton.disabled = !session;
  const line = ownLineAdvice(
    selfId ? grid.get(selfId) : null,
    Boolean(session && session.videoTrack && !videoMuted),
  );
  setText(elements.ownLineNotice, line.key);
  elements.cameraButton.classList.toggle("suggested", line.suggestCamera);
  if (endedCause) {
    elements.leftTitle.textContent = endedCause === "left" ? t("left.title") : t("left.titleClosed");
    elements.leftMessage.textContent = t(`cause.${endedCause}`);
  }
  grid.render();
}

function showScreen(name) {
  elements.prejoin.hidden = name !== "prejoin";
  elements.room.hidden = name !== "room";
  elements.left.hidden = name !== "left";
  document.body.classList.toggle("in-room", name === "room");
  if (name === "room") grid.layout();
}

async function startPreview() {
  const { stream, errorKey } = await previewDevices(
    {
      camera: elements.camera,
      microphone: elements.microphone,
      preview: elements.preview,
      previewOff: elements.previewOff,
      level: elements.level,
    },
    localStream,
  );
  localStream = stream;
  mediaErrorKey = errorKey;
  render();
}

function addRemoteTile(participant) {
  if (grid.get(participant.id)) return;
  const tile = new Tile(participant.id, participant.name);
  tile.setMediaState(participant.audio_muted, participant.video_muted);
  tile.setConnection(participant.connection, participant.connection_direction || "");
  grid.add(tile);
}

async function join(event) {
  event.preventDefault();
  const name = elements.name.value.trim();
  if (!name) {
    joinErrorKey = "prejoin.nameMissing";
    render();
    elements.name.focus();
    return;
  }
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Private browsing: the name is not remembered.
  }
  resumeAudio();
  joinErrorKey = null;
  statusKey = "status.connecting";
  elements.join.disabled = true;
  elements.join.textContent = t("prejoin.joining");
  render();
  await previewReady;
  const stream = localStream;
  session = new RoomSession({
    roomId,
    name,
    stream,
    audioMuted: false,
    videoMuted: false,
    cameraId: elements.camera.value,
    callbacks: {
      onJoined(joined, again) {
        // After a reconnect an open room has a new participant id: start the grid afresh.
        if (again) grid.clear();
        selfId = joined.participant_id;
        const self = new Tile(joined.participant_id, name, { self: true });
        self.setTracks({ audio: session.audioTrack, video: session.videoTrack });
        self.setMediaState(session.audioMuted, session.videoMuted);
        grid.add(self);
        for (const participant of joined.participants) addRemoteTile(participant);
        elements.preview.srcObject = null;
        stopMicrophoneLevel();
        if (visibleVideo) visibleVideo.stop();
        visibleVideo = watchVisibleVideo(byId("grid"), () => session && session.signaling, othersVideo.allowed());
        othersVideo.attach(visibleVideo);
        if (!weakLine) weakLine = watchWeakLine(() => session && session.pc, render);
        showScreen("room");
        render();
      },
      onParticipantJoined: addRemoteTile,
      onParticipantLeft(id) {
        grid.remove(id);
        othersVideo.forget(id);
      },
      onMediaState(id, audioMuted, videoMuted) {
        const tile = grid.get(id);
        if (tile) tile.setMediaState(audioMuted, videoMuted);
      },
      onConnectionQuality(id, quality, direction) {
        const tile = grid.get(id); // her own tile too
        if (tile) tile.setConnection(quality, direction);
        render();
      },
      onTrack(id, kind, track) {
        const tile = grid.get(id);
        if (tile) tile.setTracks({ [kind]: track });
      },
      onMediaConnection(state) {
        if (session.reconnecting) return;
        if (state === "connected") statusKey = "status.connected";
        else if (state === "disconnected" || state === "failed") statusKey = "status.mediaProblem";
        render();
      },
      onReconnecting(active) {
        statusKey = active ? "status.reconnectingRoom" : "status.connected";
        render();
      },
      onEnded(cause) {
        if (visibleVideo) visibleVideo.stop();
        othersVideo.attach(null);
        if (weakLine) weakLine.stop();
        weakLine = null;
        endedCause = cause;
        statusKey = null;
        grid.clear();
        localStream = null;
        showScreen("left");
        render();
        elements.rejoin.focus();
      },
    },
  });
  try {
    await session.start();
  } catch (error) {
    if (session.ended && endedCause) return;
    session.abort();
    session = null;
    grid.clear();
    const code = error && error.code ? error.code : "other";
    joinErrorKey = ["room_full", "invalid_data", "connect"].includes(code) ? `error.${code}` : "error.other";
    joinErrorParams = { code };
    statusKey = null;
    elements.join.disabled = false;
    applyTexts();
    showScreen("prejoin");
    render();
  }
}

async function toggleMute() {
  if (session) await toggleMicrophone(session, grid, render);
}

async function toggleOwnCamera() {
  if (!session) return;
  elements.cameraButton.disabled = true;
  const errorKey = await toggleCamera(session, grid);
  if (errorKey) mediaErrorKey = errorKey;
  render();
}

function toggleOthersVideo() {
  othersVideo.setMode(othersVideo.mode === "off" ? "all" : "off");
}

setUpLanguage(byId("language"));
onLanguageChange(render);
try {
  elements.name.value = localStorage.getItem(NAME_KEY) || "";
} catch {
  // No storage: start with an empty name.
}
elements.form.addEventListener("submit", join);
elements.mute.addEventListener("click", toggleMute);
elements.cameraButton.addEventListener("click", toggleOwnCamera);
elements.othersVideo.addEventListener("click", toggleOthersVideo);
elements.videoMode.addEventListener("click", () => othersVideo.setMode(elements.videoMode.dataset.mode));
elements.leave.addEventListener("click", () => session && session.leave());
elements.rejoin.addEventListener("click", () => location.reload());
showScreen("prejoin");
render();
let previewReady = startPreview();
elements.camera.addEventListener("change", () => (previewReady = startPreview()));
elements.microphone.addEventListener("change", () => (previewReady = startPreview()));
