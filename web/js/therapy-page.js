// A therapy session: the way in (devices, ground rules, waiting room), then the room
// with the phase bar, the grid, the participant list, the chat and, for therapists,
// the moderation controls. The server decides everything; this page shows it and
// sends requests (docs/protocol.md, "Therapy sessions").
import { applyTexts, language, onLanguageChange, setUpLanguage, t, useDefaultLanguage } from "./i18n.js";
import { resumeAudio } from "./audio-level.js";
import { chime, KNOCK, LET_IN } from "./chime.js";
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
import { Signaling, SignalingError, signalingUrl } from "./signaling.js";

const byId = (id) => document.getElementById(id);
const THERAPIST_ROLES = ["lead_therapist", "cotherapist"];
// Why a page's connection ended, when the way back in is simply the page again.
const COMING_BACK = ["left", "connection_lost", "idle", "shutdown"];
const path = location.pathname.split("/").filter(Boolean);
// /join/<invite token> for members and observers, /groups/<id>/room for therapists.
const credentials = path[0] === "join" ? { invite: path[1] } : { group: path[1] };

// A random key for this browser: the server gives a held seat back only to the
// device that had it (docs/protocol.md, `enter`).
function deviceKey() {
  const name = "grouproom.device";
  try {
    const kept = localStorage.getItem(name);
    if (kept && /^[A-Za-z0-9_-]{16,64}$/.test(kept)) return kept;
  } catch {
    // Storage may be off (private mode): a key for this page's lifetime will do.
  }
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  try {
    localStorage.setItem(name, key);
  } catch {
    // See above.
  }
  return key;
}
const device = deviceKey();

const grid = new Grid(byId("grid"));
const state = {
  info: null, // session_details
  you: null,
  moderator: false,
  participants: new Map(), // id -> participant (without yourself)
  waiting: [],
  session: null, // session_state
  chatChannel: "group",
  chat: { group: [], therapists: [] },
  // Open signals ({participant_id, name, kind, at}): every one on a therapist's
  // page, her own on a member's; and whether a therapist saw hers (a member's page).
  signals: [],
  signalSeen: false,
  // The side panel (participants, waiting room, signals, chat): open or closed by the
  // person's own choice during this visit, else open only where the screen is wide
  // enough to keep the grid large beside it.
  sideChoice: null,
  unreadChat: 0, // messages that arrived while the side panel was closed
  handRaised: false,
  // What the therapists and the round allow this person: heard, seen (the server's
  // decision; the page only says it).
  youAllowed: { audio: true, video: true },
  errorKey: null,
  enterErrorKey: null,
  mediaErrorKey: null,
  // Came before the session was opened: said on the devices step, and while the page
  // waits for the start (rather than the waiting room).
  notOpenYet: false,
  waitingForStart: false,
  statusKey: null,
  endedCause: null,
  endedReason: "",
};
// Whose video she sees; with "only who speaks", always the therapists' too.
const othersVideo = new OthersVideo(grid, {
  pinned: () =>
    [...state.participants.values()]
      .filter((person) => THERAPIST_ROLES.includes(person.role))
      .map((person) => person.id),
  onChange: () => render(),
});
let localStream = null;
let previewReady = null;
const microphoneLevel = addDeviceChecks(byId("device-checks"));
let room = null; // RoomSession once entering
let clockOffset = 0; // server time minus this browser's time
let timer = null;
let visibleVideo = null;
let weakLine = null; // WeakLineWatch while in the room
// How long a member is told that a therapist saw her signal.
const SIGNAL_SEEN_NOTICE_MS = 20000;
// A member who came before the session was opened: how often her page tries to go
// in, and for how long.
const START_POLL_MS = 10000;
const START_WAIT_LIMIT_MS = 3 * 3600 * 1000;
let waitingForStartSince = null;
// A chat log scrolled to within this of its end follows new lines; further up, the
// reader stays where she is.
const CHAT_END_SLACK_PX = 40;
let chatShown = { list: null, count: 0 }; // what the chat log shows (renderChat)
// Below this width (1100 px at the default text size, wider with larger text) the panel
// takes the grid's room: a tablet held upright, a phone.
const wideScreen = window.matchMedia("(min-width: 68.75em)");

const ERROR_KEYS = {
  session_not_open: "session.notOpen",
  invite_invalid: "session.inviteInvalid",
  invite_expired: "session.inviteExpired",
  locked: "session.locked",
  removed: "session.removedBefore",
  login_required: "session.loginRequired",
  not_allowed: "session.loginRequired",
  in_use: "session.inUse",
};

function show(name) {
  for (const id of ["way-in-error", "step-devices", "step-rules", "step-waiting", "room", "left"]) {
    byId(id).hidden = id !== name;
  }
  document.body.classList.toggle("in-room", name === "room");
  if (name === "room") grid.layout();
}

function setText(element, key, params) {
  element.textContent = key ? t(key, params) : "";
  element.hidden = !key;
}

function minutesAndSeconds(ms) {
  const total = Math.round(Math.abs(ms) / 1000);
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

function nameOf(id) {
  if (state.you && id === state.you.id) return state.you.name;
  const participant = state.participants.get(id);
  return participant ? participant.name : "?";
}

// -- rendering ------------------------------------------------------------------------

function renderPhase() {
  const session = state.session;
  const phase = session && session.phase;
  byId("phase-name").textContent = phase ? phase.name : t("session.noPhase");
  if (phase) {
    const now = Date.now() + clockOffset;
    const left = phase.started_at + phase.minutes * 60000 - now;
    byId("phase-time").textContent =
      left >= 0
        ? t("session.timeLeft", { time: minutesAndSeconds(left) })
        : t("session.overTime", { time: minutesAndSeconds(left) });
  } else {
    byId("phase-time").textContent = "";
  }
  const order = byId("round-order");
  const round = session && session.round;
  order.hidden = !round;
  order.setAttribute("aria-label", t("session.order"));
  const turns = (round ? round.order : []).map((id) => ({
    id,
    current: id === round.current,
    text: nameOf(id) + (round.passed.includes(id) ? ` (${t("session.passed")})` : ""),
  }));
  showRows(order, turns, (turn) => {
    const item = document.createElement("li");
    item.dataset.personId = turn.id;
    item.dataset.current = String(turn.current);
    item.textContent = turn.text;
    if (turn.current) item.setAttribute("aria-current", "true");
    return item;
  });
  const myTurn = Boolean(round && state.you && round.current === state.you.id);
  byId("turn-done").hidden = !myTurn;
  byId("turn-pass").hidden = !myTurn;
  const advance = byId("advance-phase");
  advance.hidden = !state.moderator;
  advance.textContent = phase ? t("session.advancePhase") : t("session.startPhases");
  for (const tile of grid.tiles.values()) {
    tile.element.classList.toggle("current-speaker", Boolean(round && round.current === tile.id));
  }
}

/**
 * Sets an element's children from `rows` only when they changed since the last time
 * (in the page's language): a button replaced between a finger's touch and its lift
 * gets no click, a keyboard's focus on it is lost, and a live region is read again.
 */
function showRows(element, rows, build) {
  const content = JSON.stringify([language(), rows]);
  if (element.dataset.content === content) return;
  element.dataset.content = content;
  element.replaceChildren(...rows.map(build));
}

function renderParticipants() {
  const everyone = [];
  if (state.you) {
    everyone.push({
      ...state.you,
      hand_raised: state.handRaised,
      audio_forwarded: state.youAllowed.audio,
      self: true,
    });
  }
  everyone.push(...state.participants.values());
  const rows = everyone.map((person) => {
    let text = person.self ? t("room.you", { name: person.name }) : person.name;
    text += ` · ${t(`session.${person.role}`)}`;
    if (person.hand_raised) text += ` · ${t("session.handRaised")}`;
    if (person.reconnecting) text += ` · ${t("session.reconnecting")}`;
    else if (person.connection === "weak" || person.connection === "bad") {
      text += ` · ${t(`tile.connection.${person.connection}`)}`;
    }
    if (person.audio_forwarded === false && person.role !== "observer") {
      const round = state.session && state.session.round;
      const waitsTurn = round && round.current && round.current !== person.id;
      text += ` · ${t(waitsTurn ? "session.waitsTurn" : "session.mutedByTherapist")}`;
    }
    const allow = Boolean(state.moderator && person.hand_raised && !person.self);
    return { id: person.id, role: person.role, text, allow };
  });
  showRows(byId("participants"), rows, (row) => {
    const item = document.createElement("li");
    item.dataset.personId = row.id;
    item.dataset.role = row.role;
    item.textContent = row.text;
    if (row.allow) item.append(" ", actionButton("session.tileAllow", "allow_speak", row.id));
    return item;
  });
  const waitingBox = byId("waiting-box");
  waitingBox.hidden = !state.moderator || state.waiting.length === 0;
  const waiting = state.waiting.map((person) => ({ id: person.id, name: person.name, role: person.role }));
  showRows(byId("waiting-list"), waiting, (person) => {
    const item = document.createElement("li");
    item.dataset.personId = person.id;
    item.textContent = `${person.name} · ${t(`session.${person.role}`)} `;
    const admit = actionButton("session.admit", "admit", person.id);
    admit.classList.add("admit-button");
    item.append(admit);
    return item;
  });
}

function actionButton(labelKey, action, target) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "small";
  button.dataset.action = action;
  button.textContent = t(labelKey);
  button.addEventListener("click", (event) => {
    const menu = event.currentTarget.closest("details");
    if (menu) menu.open = false; // a tile's menu (the waiting list has plain buttons)
    if (action === "remove") askToRemove(target);
    else moderate(action, target);
  });
  return button;
}

function renderTileActions() {
  for (const tile of grid.tiles.values()) {
    let actions = tile.element.querySelector(".tile-actions");
    const participant = state.participants.get(tile.id);
    if (!state.moderator || !participant || participant.role !== "member") {
      if (actions) actions.remove();
      continue;
    }
    if (!actions) {
      // One small button on the tile opens the actions, so that they do not cover
      // the member's face (a disclosure: works with touch, keyboard and screen
      // readers; kept across renders so that an open menu stays open).
      actions = document.createElement("details");
      actions.className = "tile-actions";
      const summary = document.createElement("summary");
      summary.textContent = "⋯";
      const menu = document.createElement("div");
      menu.className = "tile-menu";
      actions.append(summary, menu);
      tile.element.append(actions);
    }
    actions.querySelector("summary").setAttribute(
      "aria-label",
      t("session.tileActions", { name: participant.name }),
    );
    const signal = state.signals.some((open) => open.participant_id === tile.id);
    const items = [
      ...(signal ? [["session.signalSeen", "acknowledge_signal"]] : []),
      participant.audio_forwarded ? ["session.tileMute", "mute"] : ["session.tileAllow", "allow_speak"],
      participant.video_forwarded
        ? ["session.tileStopVideo", "stop_video"]
        : ["session.tileAllowVideo", "allow_video"],
      ["session.tileRemove", "remove"],
    ];
    const menu = actions.querySelector(".tile-menu");
    showRows(menu, items, ([label, action]) => actionButton(label, action, tile.id));
  }
}

function renderChat() {
  for (const tab of byId("chat-tabs").querySelectorAll("[data-channel]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.channel === state.chatChannel));
  }
  // A member has one channel: no tabs to choose from (they took a row of a short panel).
  byId("chat-tabs").hidden = !state.moderator;
  // A live region: new lines are appended, and the log is rebuilt only when another
  // channel or a new history (a seat's) is shown; rebuilt at every render, a screen
  // reader would read the whole chat again, and the reader would be pulled down from
  // an earlier message she was reading.
  const log = byId("chat-log");
  const list = state.chat[state.chatChannel];
  const wasAtEnd = log.scrollHeight - log.scrollTop - log.clientHeight < CHAT_END_SLACK_PX;
  if (chatShown.list !== list || list.length < chatShown.count) {
    log.replaceChildren(...list.map(chatLine));
    log.scrollTop = log.scrollHeight;
  } else if (list.length > chatShown.count) {
    const added = list.slice(chatShown.count);
    log.append(...added.map(chatLine));
    const ownLine = state.you && added.some((message) => message.sender_id === state.you.id);
    if (wasAtEnd || ownLine) log.scrollTop = log.scrollHeight;
  }
  chatShown = { list, count: list.length };
  const chatOff = state.session && !state.session.chat_enabled && state.chatChannel === "group";
  const observer = state.you && state.you.role === "observer";
  byId("chat-text").disabled = Boolean(chatOff || (observer && state.chatChannel === "group"));
  byId("chat-text").placeholder = chatOff ? t("session.chatOff") : t("session.chatPlaceholder");
}

function chatLine(message) {
  const line = document.createElement("p");
  line.className = "chat-message";
  const who = document.createElement("strong");
  who.textContent = `${message.sender_name}: `;
  line.append(who, message.text);
  return line;
}

function renderSignals() {
  const box = byId("signals");
  box.hidden = !state.moderator || state.signals.length === 0;
  // A live region (showRows: a screen reader reads a line once).
  showRows(box, state.moderator ? state.signals : [], signalLine);
  const open = new Map(state.signals.map((signal) => [signal.participant_id, signal.kind]));
  for (const tile of grid.tiles.values()) {
    tile.setSignal(state.moderator && !tile.self ? open.get(tile.id) || null : null);
  }
  // A member's own: sent, then seen by a therapist.
  const notice = byId("signal-notice");
  const key = state.moderator
    ? null
    : state.signals.length
      ? "notice.signalSent"
      : state.signalSeen
        ? "notice.signalSeen"
        : null;
  notice.textContent = key ? t(key) : "";
  notice.hidden = !key;
}

function signalLine(signal) {
  const line = document.createElement("p");
  line.className = `signal signal-${signal.kind}`;
  line.dataset.personId = signal.participant_id;
  const kind = signal.kind === "need_help" ? t("session.needHelp") : t("session.needMoment");
  line.textContent = `${t("session.signalFrom", { name: signal.name, kind })} `;
  line.append(actionButton("session.signalSeen", "acknowledge_signal", signal.participant_id));
  return line;
}

function dropSignal(participantId) {
  state.signals = state.signals.filter((signal) => signal.participant_id !== participantId);
}

let signalSeenTimer = null;

function signalSeen() {
  // The member is told for a while that she was seen; then the notice goes.
  state.signalSeen = true;
  clearTimeout(signalSeenTimer);
  signalSeenTimer = setTimeout(() => {
    state.signalSeen = false;
    render();
  }, SIGNAL_SEEN_NOTICE_MS);
}

async function sendSignal(kind) {
  if (!(await request("signal", { kind })) || !state.you) return;
  dropSignal(state.you.id);
  state.signals.push({ participant_id: state.you.id, name: state.you.name, kind, at: Date.now() });
  state.signalSeen = false;
  render();
}

function sideOpen() {
  return state.sideChoice ?? wideScreen.matches;
}

// Her tile holds the server's judgement of her line.
function ownLine() {
  const self = state.you ? grid.get(state.you.id) : null;
  return ownLineAdvice(self, Boolean(room && room.videoTrack && !room.videoMuted));
}

// Why the others do not hear or see this person (the server does not forward it),
// or may do so only with interruptions (the server judges her line weak).
function renderSilenced() {
  const keys = [];
  if (state.you && state.you.role !== "observer") {
    const round = state.session && state.session.round;
    const othersTurn = round && round.current && round.current !== state.you.id;
    if (!state.youAllowed.audio) keys.push(othersTurn ? "notice.waitTurn" : "notice.mutedByTherapist");
    if (!state.youAllowed.video) keys.push("notice.videoStopped");
    const line = ownLine();
    if (line.key) keys.push(line.key);
  }
  const notice = byId("silenced-notice");
  notice.textContent = keys.map((key) => t(key)).join(" ");
  notice.hidden = keys.length === 0;
}

function renderSide() {
  const open = sideOpen();
  if (open) state.unreadChat = 0;
  byId("room").classList.toggle("side-closed", !open);
  const button = byId("side-button");
  button.setAttribute("aria-expanded", String(open));
  button.textContent = state.unreadChat
    ? t("session.sideUnread", { count: state.unreadChat })
    : t("session.side");
}

/** The tab's title: the group, and what waits (seen from another tab too). */
function renderTitle() {
  let title = state.info ? state.info.group.name : "grouproom";
  if (!byId("step-waiting").hidden) title = `${t("session.waitingTitle")} · ${title}`;
  const knocking = state.moderator && !byId("room").hidden ? state.waiting.length : 0;
  if (knocking) title = `(${knocking}) ${title}`;
  document.title = title;
}

function render() {
  renderTitle();
  byId("group-name").textContent = state.info ? state.info.group.name : "";
  setText(byId("way-in-message"), state.errorKey);
  setText(byId("media-error"), state.mediaErrorKey);
  setText(byId("enter-error"), state.enterErrorKey);
  setText(byId("not-open-notice"), state.notOpenYet ? "session.notOpenYet" : null);
  byId("waiting-text").textContent = t(state.waitingForStart ? "session.waitingForStart" : "session.waitingText");
  // Early, she also sees when the group meets (as its lead therapist wrote it).
  const schedule = (state.info && state.info.group.schedule) || "";
  const scheduleKey = schedule ? "session.schedule" : null;
  setText(byId("schedule-notice"), state.notOpenYet ? scheduleKey : null, { schedule });
  setText(byId("waiting-schedule"), state.waitingForStart ? scheduleKey : null, { schedule });
  if (state.info) {
    byId("you-are").textContent = `${state.info.you.name} · ${t(`session.${state.info.you.role}`)}`;
    const again = state.info.accepted_before;
    byId("rules-again").hidden = !again || state.moderator;
    byId("rules-agree-label").hidden = again || state.moderator;
    byId("rules-enter").textContent = again || state.moderator ? t("session.rulesContinue") : t("session.rulesEnter");
    byId("rules-enter").disabled = !(again || state.moderator || byId("rules-agree").checked);
  }
  const muted = room ? room.audioMuted : false;
  const videoMuted = room ? room.videoMuted : false;
  const mute = byId("mute-button");
  mute.textContent = muted ? t("room.unmute") : t("room.mute");
  mute.setAttribute("aria-pressed", String(muted));
  mute.disabled = !room || !room.audioTrack;
  const camera = byId("camera-button");
  camera.textContent = videoMuted ? t("room.cameraOn") : t("room.cameraOff");
  camera.setAttribute("aria-pressed", String(videoMuted));
  camera.disabled = !room;
  camera.classList.toggle("suggested", ownLine().suggestCamera);
  const member = state.you && state.you.role === "member";
  for (const element of document.querySelectorAll(".member-only")) element.hidden = !member;
  for (const element of document.querySelectorAll(".therapist-only")) {
    if (!["waiting-box", "signals"].includes(element.id)) {
      element.hidden = !state.moderator;
    }
  }
  const hand = byId("hand-button");
  hand.textContent = state.handRaised ? t("session.lowerHand") : t("session.raiseHand");
  hand.setAttribute("aria-pressed", String(state.handRaised));
  const session = state.session;
  byId("mute-all").textContent = session && session.everyone_muted ? t("session.unmuteAll") : t("session.muteAll");
  byId("lock-button").textContent = session && session.locked ? t("session.unlock") : t("session.lock");
  const statusKey = renderOthersVideo(
    {
      button: byId("others-video-button"),
      hint: byId("weak-line-hint"),
      hintText: byId("weak-line-text"),
      modeButton: byId("video-mode-button"),
    },
    othersVideo.mode,
    Boolean(weakLine && weakLine.weak),
    state.statusKey,
    true,
  );
  byId("status").textContent = statusKey ? t(statusKey) : "";
  if (state.endedCause) {
    const key = `cause.${state.endedCause}`;
    byId("left-message").textContent = [t(key), state.endedReason].filter(Boolean).join(" ");
    // The page itself asks for the login again, and comes back here after it.
    const loginAgain = byId("login-again");
    loginAgain.hidden = state.endedCause !== "logged_out";
    loginAgain.href = location.pathname + location.search;
    // Left (perhaps by a slip of the finger) or cut off: the way back in is one tap,
    // not the invite link again. Not after being removed, the end, or another device.
    byId("back-in").hidden = !COMING_BACK.includes(state.endedCause);
  }
  renderPhase();
  renderParticipants();
  renderTileActions();
  for (const tile of grid.tiles.values()) {
    const participant = state.participants.get(tile.id);
    tile.setHandRaised(tile.self ? state.handRaised : Boolean(participant && participant.hand_raised));
  }
  renderChat();
  renderSignals();
  renderSilenced();
  renderSide();
  grid.render();
}

// -- the way in -----------------------------------------------------------------------

async function startPreview() {
  const { stream, errorKey } = await previewDevices(
    {
      camera: byId("camera-select"),
      microphone: byId("microphone-select"),
      preview: byId("preview"),
      previewOff: byId("preview-off"),
      level: microphoneLevel,
    },
    localStream,
  );
  localStream = stream;
  state.mediaErrorKey = errorKey;
  render();
}

async function loadInfo() {
  const signaling = new Signaling(signalingUrl());
  try {
    await signaling.connect();
    state.info = await signaling.request("session_info", credentials);
  } finally {
    signaling.close();
  }
  state.you = state.info.you;
  state.moderator = THERAPIST_ROLES.includes(state.you.role);
  useDefaultLanguage(state.info.group.language);
  byId("rules-text").textContent = state.info.rules.text;
  byId("rules-dialog-text").textContent = state.info.rules.text;
}

async function begin() {
  state.errorKey = null;
  try {
    await loadInfo();
  } catch (error) {
    state.errorKey = ERROR_KEYS[error && error.code] || "error.other";
    show("way-in-error");
    render();
    return;
  }
  if (!state.info.session_open && state.info.recently_ended) {
    state.errorKey = "cause.session_ended";
    show("way-in-error");
    render();
    return;
  }
  // Early: she checks her devices and reads the rules; the page goes in by itself
  // once the session is opened (enter).
  state.notOpenYet = !state.info.session_open;
  show("step-devices");
  render();
  if (!previewReady) previewReady = startPreview();
  byId("devices-next").focus();
}

async function enter() {
  resumeAudio();
  state.enterErrorKey = null;
  byId("rules-enter").disabled = true;
  await previewReady;
  const observer = state.you.role === "observer";
  if (observer && localStream) {
    for (const track of localStream.getTracks()) track.stop();
    localStream = null;
  }
  const stream = localStream;
  room = new RoomSession({
    roomId: "",
    name: state.you.name,
    stream,
    audioMuted: false,
    videoMuted: false,
    cameraId: byId("camera-select").value,
    callbacks: roomCallbacks(),
  });
  try {
    await room.startWith((signaling) => enterSession(signaling, room));
  } catch (error) {
    if (room && room.ended && state.endedCause) return;
    if (room) room.abort();
    room = null;
    const code = error && error.code;
    if (code === "session_not_open" && waitForStart()) return;
    state.waitingForStart = false;
    state.enterErrorKey = ERROR_KEYS[code] || (code === "rules_not_accepted" ? "session.rulesAgree" : "error.other");
    show("step-rules");
    render();
  }
}

/** The session is not open yet: wait, and try to go in again now and then (for up to
 * START_WAIT_LIMIT_MS, then she is asked to try again herself). */
function waitForStart() {
  if (waitingForStartSince === null) waitingForStartSince = Date.now();
  if (Date.now() - waitingForStartSince > START_WAIT_LIMIT_MS) {
    waitingForStartSince = null;
    return false;
  }
  state.waitingForStart = true;
  show("step-waiting");
  render();
  setTimeout(enter, START_POLL_MS * (0.8 + Math.random() * 0.4));
  return true;
}

function enterSession(signaling, session) {
  signaling.on("session_state", (data) => updateSession(data));
  signaling.on("waiting_room", (data) => {
    // Someone new waits to be let in: a therapist's panel opens to show them, and a
    // chime tells a therapist who is looking at the group rather than the screen.
    const known = new Set(state.waiting.map((person) => person.id));
    if (data.people.some((person) => !known.has(person.id))) {
      state.sideChoice = true;
      if (state.moderator) chime(KNOCK);
    }
    state.waiting = data.people;
    render();
  });
  signaling.on("permissions", (data) => {
    if (state.you && data.participant_id === state.you.id) {
      state.youAllowed = { audio: data.audio_forwarded, video: data.video_forwarded };
    }
    const participant = state.participants.get(data.participant_id);
    if (participant) {
      participant.audio_forwarded = data.audio_forwarded;
      participant.video_forwarded = data.video_forwarded;
    }
    render();
  });
  signaling.on("hand", (data) => {
    if (state.you && data.participant_id === state.you.id) state.handRaised = data.raised;
    const participant = state.participants.get(data.participant_id);
    if (participant) participant.hand_raised = data.raised;
    render();
  });
  signaling.on("chat_message", (data) => {
    state.chat[chatChannelOf(data)].push(data);
    if (!sideOpen() && !(state.you && data.sender_id === state.you.id)) state.unreadChat += 1;
    render();
  });
  signaling.on("signal_received", (data) => {
    // Only therapists receive these, and one asking for help must not go unseen.
    dropSignal(data.participant_id); // a member's new signal takes the old one's place
    state.signals.push(data);
    state.sideChoice = true;
    render();
  });
  signaling.on("signal_acknowledged", (data) => {
    dropSignal(data.participant_id);
    if (state.you && data.participant_id === state.you.id) signalSeen();
    render();
  });
  signaling.on("dismissed", (data) => {
    state.endedCause = data.cause;
    state.endedReason = data.reason || "";
    session.finalCause = data.cause;
  });
  signaling.on("participant_reconnecting", (data) => setReconnecting(data.participant_id, true));
  signaling.on("participant_reconnected", (data) => setReconnecting(data.participant_id, false));
  return new Promise((resolve, reject) => {
    signaling.on("admitted", (data) => resolve(seated(data.seat)));
    signaling
      .request("enter", {
        ...credentials,
        accept_rules: state.moderator ? null : state.info.rules.version,
        audio_muted: session.audioMuted,
        video_muted: session.videoMuted,
        device,
      })
      .then((entered) => {
        state.waitingForStart = false;
        state.notOpenYet = false;
        waitingForStartSince = null;
        if (entered.state === "seated") resolve(seated(entered.seat));
        else {
          show("step-waiting");
          render();
        }
      }, reject);
  });
}

function chatChannelOf(message) {
  return message.channel === "therapists" ? "therapists" : "group";
}

const chatKey = (message) => `${message.at} ${message.sender_id} ${message.text}`;

/** The chat the server kept for her (since she first came in; all of it for a
 * therapist): after a reload, or with what she missed while her connection was broken.
 * Lines she has are kept as they are (the log then only grows: renderChat). */
function takeChat(history) {
  let missed = 0;
  for (const channel of ["group", "therapists"]) {
    const kept = history.filter((message) => chatChannelOf(message) === channel);
    const shown = state.chat[channel];
    const known = new Set(shown.map(chatKey));
    const isNew = (message) => !known.has(chatKey(message));
    const own = (message) => state.you && message.sender_id === state.you.id;
    missed += kept.filter((message) => isNew(message) && !own(message)).length;
    const grows = shown.every((message, index) => kept[index] && chatKey(kept[index]) === chatKey(message));
    if (grows) shown.push(...kept.slice(shown.length));
    else state.chat[channel] = kept;
  }
  if (!sideOpen()) state.unreadChat += missed;
}

function seated(seat) {
  // She waited (for the session to open, or in the waiting room) and may be looking
  // away: a chime says she is in.
  if (byId("step-waiting").hidden === false) chime(LET_IN);
  state.waiting = seat.waiting || [];
  takeChat(seat.chat || []);
  state.signals = seat.signals || [];
  if (seat.signal_seen) signalSeen(); // seen while her connection was broken
  if (seat.you) {
    state.youAllowed = { audio: seat.you.audio_forwarded, video: seat.you.video_forwarded };
    state.handRaised = seat.you.hand_raised;
  }
  updateSession(seat.state);
  return seat;
}

function updateSession(data) {
  state.session = data;
  clockOffset = data.server_time - Date.now();
  render();
}

function addParticipant(participant) {
  state.participants.set(participant.id, { ...participant });
  if (participant.role === "observer") return;
  let tile = grid.get(participant.id);
  if (!tile) {
    tile = new Tile(participant.id, participant.name);
    grid.add(tile);
    othersVideo.refresh(); // a therapist's video is shown with "only who speaks" too
  }
  tile.setMediaState(participant.audio_muted, participant.video_muted);
  tile.setReconnecting(Boolean(participant.reconnecting));
  tile.setConnection(participant.connection, participant.connection_direction || "");
}

function setReconnecting(id, reconnecting) {
  const participant = state.participants.get(id);
  if (participant) participant.reconnecting = reconnecting;
  const tile = grid.get(id);
  if (tile) tile.setReconnecting(reconnecting);
  render();
}

/** Back after a reconnect: the seat tells who is there now; tiles keep their places. */
function syncParticipants(seat) {
  const present = new Set(seat.participants.map((participant) => participant.id));
  for (const id of [...state.participants.keys()]) {
    if (present.has(id)) continue;
    state.participants.delete(id);
    grid.remove(id);
    othersVideo.forget(id);
  }
  for (const participant of seat.participants) addParticipant(participant);
}

function roomCallbacks() {
  return {
    onJoined(seat, again) {
      if (again) {
        syncParticipants(seat);
        if (visibleVideo) visibleVideo.resend();
        const self = grid.get(seat.participant_id);
        if (self) {
          self.setTracks({ audio: room.audioTrack, video: room.videoTrack });
          if (seat.you) self.setConnection(seat.you.connection, seat.you.connection_direction || "");
        }
        show("room");
        render();
        return;
      }
      if (state.you.role !== "observer") {
        const self = new Tile(seat.participant_id, state.you.name, { self: true });
        self.setTracks({ audio: room.audioTrack, video: room.videoTrack });
        self.setMediaState(room.audioMuted, room.videoMuted);
        grid.add(self);
      }
      for (const participant of seat.participants) addParticipant(participant);
      byId("preview").srcObject = null;
      stopMicrophoneLevel();
      visibleVideo = watchVisibleVideo(byId("grid"), () => room && room.signaling, othersVideo.allowed());
      othersVideo.attach(visibleVideo);
      if (!weakLine) weakLine = watchWeakLine(() => room && room.pc, render);
      show("room");
      if (!timer) timer = setInterval(renderPhase, 1000);
      render();
    },
    onParticipantJoined: (participant) => {
      addParticipant(participant);
      render();
    },
    onParticipantLeft(id) {
      state.participants.delete(id);
      dropSignal(id);
      grid.remove(id);
      othersVideo.forget(id);
      render();
    },
    onConnectionQuality(id, quality, direction) {
      const participant = state.participants.get(id);
      if (participant) {
        participant.connection = quality;
        participant.connection_direction = direction;
      }
      const tile = grid.get(id); // her own tile too
      if (tile) tile.setConnection(quality, direction);
      render();
    },
    onMediaState(id, audioMuted, videoMuted) {
      const participant = state.participants.get(id);
      if (participant) Object.assign(participant, { audio_muted: audioMuted, video_muted: videoMuted });
      const tile = grid.get(id);
      if (tile) tile.setMediaState(audioMuted, videoMuted);
    },
    onTrack(id, kind, track) {
      const tile = grid.get(id);
      if (tile) tile.setTracks({ [kind]: track });
    },
    onMediaConnection(connection) {
      if (room && room.reconnecting) return;
      if (connection === "connected") state.statusKey = "status.connected";
      else if (connection === "disconnected" || connection === "failed") state.statusKey = "status.mediaProblem";
      render();
    },
    onReconnecting(active) {
      state.statusKey = active ? "status.reconnecting" : "status.connected";
      document.body.classList.toggle("reconnecting", active);
      const self = state.you && grid.get(state.you.id);
      if (self) self.setReconnecting(active);
      render();
    },
    onEnded(cause) {
      if (visibleVideo) visibleVideo.stop();
      othersVideo.attach(null);
      if (weakLine) weakLine.stop();
      weakLine = null;
      state.endedCause = state.endedCause || cause;
      state.statusKey = null;
      clearInterval(timer);
      grid.clear();
      localStream = null;
      show("left");
      render();
    },
  };
}

// -- in the room ----------------------------------------------------------------------

// Whether the server took the request (a refusal is shown in the status line).
async function request(type, data) {
  if (!room || !room.signaling) return false;
  try {
    await room.signaling.request(type, data);
    return true;
  } catch (error) {
    if (!(error instanceof SignalingError)) throw error;
    state.statusKey = null;
    byId("status").textContent = error.message;
    return false;
  }
}

function moderate(action, target, reason) {
  const data = { action };
  if (target) data.target = target;
  if (reason !== undefined) data.reason = reason.slice(0, 300);
  return request("moderate", data);
}

/** Removing a member asks first, in a dialog of the page (a browser's own prompt
 * is easy to miss on a tablet, and some browsers suppress it). */
function askToRemove(target) {
  const dialog = byId("remove-dialog");
  dialog.dataset.target = target;
  byId("remove-title").textContent = t("session.removeTitle", { name: nameOf(target) });
  byId("remove-reason").value = "";
  dialog.showModal();
  byId("remove-reason").focus();
}

async function toggleMute() {
  if (room) await toggleMicrophone(room, grid, render);
}

async function toggleOwnCamera() {
  if (!room) return;
  byId("camera-button").disabled = true;
  const errorKey = await toggleCamera(room, grid);
  if (errorKey) state.mediaErrorKey = errorKey;
  render();
}

function toggleOthersVideo() {
  othersVideo.setMode(othersVideo.mode === "off" ? "all" : "off");
}

function sendChat(event) {
  event.preventDefault();
  const input = byId("chat-text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  request("chat", { channel: state.chatChannel, text });
}

setUpLanguage(byId("language"));
onLanguageChange(render);
byId("retry-button").addEventListener("click", begin);
byId("devices-next").addEventListener("click", () => {
  show("step-rules");
  render();
  byId(state.moderator || state.info.accepted_before ? "rules-enter" : "rules-agree").focus();
});
byId("rules-agree").addEventListener("change", render);
byId("rules-enter").addEventListener("click", enter);
byId("camera-select").addEventListener("change", () => (previewReady = startPreview()));
byId("microphone-select").addEventListener("change", () => (previewReady = startPreview()));
byId("mute-button").addEventListener("click", toggleMute);
byId("camera-button").addEventListener("click", toggleOwnCamera);
byId("others-video-button").addEventListener("click", toggleOthersVideo);
byId("video-mode-button").addEventListener("click", (event) =>
  othersVideo.setMode(event.currentTarget.dataset.mode),
);
byId("hand-button").addEventListener("click", () => request("raise_hand", { raised: !state.handRaised }));
byId("signal-moment").addEventListener("click", () => sendSignal("need_a_moment"));
byId("signal-help").addEventListener("click", () => sendSignal("need_help"));
byId("turn-done").addEventListener("click", () => request("turn", { passed: false }));
byId("turn-pass").addEventListener("click", () => request("turn", { passed: true }));
byId("advance-phase").addEventListener("click", () => moderate("advance_phase"));
byId("mute-all").addEventListener("click", () =>
  moderate(state.session && state.session.everyone_muted ? "unmute_all" : "mute_all"),
);
byId("lock-button").addEventListener("click", () =>
  moderate(state.session && state.session.locked ? "unlock" : "lock"),
);
/** `buttonId` opens the dialog `dialogId`; its submit button of `value` does `action`. */
function confirmWith(buttonId, dialogId, value, action) {
  const dialog = byId(dialogId);
  byId(buttonId).addEventListener("click", () => {
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === value) action();
  });
}
confirmWith("end-button", "end-dialog", "end", () => moderate("end"));
byId("remove-dialog").addEventListener("close", () => {
  const dialog = byId("remove-dialog");
  if (dialog.returnValue === "remove") {
    moderate("remove", dialog.dataset.target, byId("remove-reason").value.trim());
  }
  dialog.returnValue = "";
});
// Leaving asks first: on a tablet, Leave is one tap away from the other buttons.
confirmWith("leave-button", "leave-dialog", "leave", () => room && room.leave());
byId("back-in").addEventListener("click", () => location.reload());
// An open tile menu closes on a click elsewhere or Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.tile-actions[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.tile-actions[open]")) menu.open = false;
});
byId("rules-button").addEventListener("click", () => byId("rules-dialog").showModal());
byId("side-button").addEventListener("click", () => {
  state.sideChoice = !sideOpen();
  render();
});
wideScreen.addEventListener("change", render);
byId("rules-dialog-close").addEventListener("click", () => byId("rules-dialog").close());
for (const tab of byId("chat-tabs").querySelectorAll("[data-channel]")) {
  tab.addEventListener("click", () => {
    state.chatChannel = tab.dataset.channel;
    render();
  });
}
byId("chat-form").addEventListener("submit", sendChat);
applyTexts();
begin();
