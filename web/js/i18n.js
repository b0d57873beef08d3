// Dutch and English texts. The language comes from the browser, can be switched with
// the #language select, and is remembered in localStorage.

const TEXTS = {
  nl: {
    "language.label": "Taal",
    "start.title": "Videoruimtes voor groepstherapie",
    "start.intro": "Iedereen ziet en hoort iedereen tegelijk. Er wordt niets opgenomen.",
    "start.roomLabel": "Naam van de ruimte",
    "start.roomHint": "Kleine letters, cijfers en streepjes.",
    "start.roomInvalid": "Gebruik alleen kleine letters, cijfers en streepjes.",
    "start.go": "Naar de ruimte",
    "start.demo": "Open de demoruimte",
    "room.label": "Ruimte: {room}",
    "prejoin.title": "Klaar om mee te doen?",
    "prejoin.noPreview": "Geen camerabeeld",
    "prejoin.nameLabel": "Uw naam",
    "prejoin.camera": "Camera",
    "prejoin.microphone": "Microfoon",
    "prejoin.micLevel": "Zeg iets: de balk hoort te bewegen.",
    "session.schedule": "De groep komt bijeen: {schedule}",
    "privacy.link": "Hoe wij met uw gegevens omgaan",
    "prejoin.testSound": "Testgeluid afspelen",
    "prejoin.testSoundHint": "Hoorde u drie tonen? Zo niet, zet het geluid harder of controleer uw koptelefoon.",
    "prejoin.noDevice": "Geen",
    "prejoin.join": "Deelnemen",
    "prejoin.joining": "Bezig met deelnemen…",
    "prejoin.nameMissing": "Vul uw naam in.",
    "media.NotAllowedError":
      "Uw browser geeft geen toegang tot de camera en microfoon. Klik op het camera- of slotje-icoon " +
      "in de adresbalk, kies ‘Toestaan’ en laad de pagina opnieuw. U kunt ook zonder camera en " +
      "microfoon deelnemen.",
    "media.NotFoundError":
      "Er is geen camera of microfoon gevonden. Sluit er een aan en laad de pagina opnieuw, of neem " +
      "deel zonder.",
    "media.NotReadableError":
      "De camera of microfoon wordt al door een ander programma gebruikt. Sluit dat programma en laad " +
      "de pagina opnieuw, of neem deel zonder.",
    "media.unsupported":
      "Deze browser kan de camera niet gebruiken. Gebruik een recente Chrome, Edge, Firefox of Safari.",
    "media.other":
      "De camera of microfoon kon niet worden gestart. U kunt deelnemen zonder, of de pagina opnieuw laden.",
    "media.audioOnly": "Er is geen camera gevonden: u neemt deel met alleen de microfoon.",
    "room.title": "Groep",
    "room.you": "{name} (jij)",
    "room.mute": "Microfoon uit",
    "room.unmute": "Microfoon aan",
    "room.cameraOff": "Camera uit",
    "room.cameraOn": "Camera aan",
    "room.othersVideoOff": "Video van anderen uit",
    "room.othersVideoOn": "Video van anderen aan",
    "hint.weakLine":
      "Het geluid en beeld van de anderen komen niet goed door. Klik op ‘Video van anderen uit’: " +
      "dan hoort u iedereen beter. Of kies ‘Alleen wie spreekt’: dan ziet u alleen wie aan " +
      "het woord is.",
    "hint.speakersOnly": "Om uw verbinding te sparen ziet u alleen de video van wie spreekt.",
    "hint.speakersOnlySession":
      "Om uw verbinding te sparen ziet u alleen de video van de therapeuten en van wie spreekt.",
    "room.onlyWhoSpeaks": "Alleen wie spreekt",
    "room.everyonesVideo": "Iedereen tonen",
    "room.leave": "Verlaten",
    "room.muted": "Microfoon staat uit",
    "tile.connection.bad": "Zeer zwakke verbinding",
    "tile.connection.weak": "Zwakke verbinding",
    "tile.handRaised": "Hand opgestoken",
    "tile.needHelp": "Heeft hulp nodig",
    "tile.needMoment": "Heeft even tijd nodig",
    "notice.mutedByTherapist": "De therapeut heeft u gedempt: de anderen horen u niet.",
    "notice.waitTurn": "Tijdens de ronde horen de anderen u alleen als u aan de beurt bent.",
    "notice.videoStopped": "De therapeut heeft uw video stilgezet: de anderen zien u niet.",
    "notice.signalSent": "Uw signaal is alleen naar de therapeuten gestuurd. Zij hebben het nog niet gezien.",
    "notice.signalSeen": "Een therapeut heeft uw signaal gezien.",
    "notice.connectionWeak":
      "Uw verbinding is zwak: de anderen zien en horen u misschien met haperingen.",
    "notice.connectionWeakSending":
      "Uw verbinding is zwak bij het versturen: de anderen horen u misschien met haperingen. " +
      "Klik op ‘Camera uit’: dan komt uw stem beter door.",
    "room.speaking": "spreekt",
    "room.gridLabel": "Deelnemers",
    "status.connecting": "Verbinden…",
    "status.connected": "Verbonden",
    "status.othersVideoOff": "Verbonden. U hoort de anderen maar ziet hun video niet: dat spaart uw verbinding.",
    "status.mediaProblem": "De verbinding is zwak of onderbroken. Even geduld…",
    "status.reconnecting": "De verbinding is verbroken. Opnieuw verbinden… Uw plek blijft bewaard.",
    "tile.reconnecting": "Opnieuw verbinden…",
    "status.reconnectingRoom": "De verbinding is verbroken. Opnieuw verbinden…",
    "session.reconnecting": "opnieuw verbinden…",
    "left.title": "U heeft de ruimte verlaten",
    "left.titleClosed": "De verbinding is beëindigd",
    "left.rejoin": "Opnieuw deelnemen",
    "cause.left": "U heeft de ruimte verlaten.",
    "cause.connection_lost": "De verbinding met de server is verbroken.",
    "cause.idle": "De verbinding was te lang stil en is gesloten.",
    "cause.shutdown": "De server wordt opnieuw gestart. Probeer het over een minuut opnieuw.",
    "cause.in_use": "Deze uitnodigingslink is in gebruik op een ander apparaat. Sluit de sessie daar eerst.",
    "cause.replaced": "U bent op een ander apparaat deelgenomen.",
    "cause.logged_out": "Uw inlog is beëindigd: elders uitgelogd, wachtwoord gewijzigd of account uitgeschakeld. Uw plek blijft een minuut bewaard.",
    "session.loginAgain": "Opnieuw inloggen",
    "cause.removed": "Een therapeut heeft u uit deze sessie gehaald.",
    "cause.session_ended": "De sessie is afgelopen.",
    "error.room_full": "Deze ruimte is vol.",
    "error.invalid_data": "De naam kan niet worden gebruikt. Kies een andere naam.",
    "error.connect": "De server is niet bereikbaar. Controleer uw internetverbinding en probeer het opnieuw.",
    "error.other": "Er ging iets mis ({code}). Probeer het opnieuw.",
    "session.next": "Verder",
    "session.devicesTitle": "Camera en microfoon",
    "session.rulesTitle": "Groepsregels",
    "session.rulesAgree": "Ik heb de groepsregels gelezen en ga ermee akkoord",
    "session.rulesEnter": "Akkoord, naar binnen",
    "session.rulesAgain": "U heeft deze regels eerder geaccepteerd.",
    "session.rulesContinue": "Verder naar binnen",
    "session.waitingTitle": "Even wachten",
    "session.waitingText": "De therapeut laat u zo binnen.",
    "session.notOpenYet": "De sessie is nog niet begonnen. Controleer alvast uw camera en microfoon en lees de groepsregels: daarna gaat u vanzelf naar binnen zodra de therapeut de sessie opent.",
    "session.waitingForStart": "De sessie is nog niet begonnen. Deze pagina gaat vanzelf verder zodra de therapeut de sessie opent; u hoeft niets te doen.",
    "session.notOpen": "De sessie is nog niet geopend. Probeer het straks opnieuw.",
    "session.inviteInvalid": "Deze uitnodigingslink werkt niet (meer). Vraag uw therapeut om een nieuwe.",
    "session.inviteExpired": "Deze uitnodigingslink is verlopen. Vraag uw therapeut om een nieuwe.",
    "session.locked": "De sessie is gesloten voor nieuwe deelnemers.",
    "session.inUse": "Deze uitnodigingslink is in gebruik op een ander apparaat. Sluit de sessie daar eerst, of probeer het over een minuut opnieuw.",
    "session.removedBefore": "U kunt deze sessie niet meer binnenkomen.",
    "session.loginRequired": "Log eerst in als therapeut.",
    "session.tryAgain": "Opnieuw proberen",
    "session.noPhase": "De sessie is nog niet begonnen",
    "session.timeLeft": "nog {time}",
    "session.overTime": "{time} over tijd",
    "session.advancePhase": "Volgende fase",
    "session.startPhases": "Begin de sessie",
    "session.turnDone": "Ik ben klaar",
    "session.turnPass": "Ik sla over",
    "session.yourTurn": "U bent aan de beurt",
    "session.order": "Volgorde",
    "session.passed": "overgeslagen",
    "session.participants": "Deelnemers",
    "session.observers": "Toehoorders",
    "session.waitingRoom": "Wachtkamer",
    "session.admit": "Binnenlaten",
    "session.chat": "Chat",
    "session.chatGroup": "Groep",
    "session.chatTherapists": "Therapeuten",
    "session.chatSend": "Versturen",
    "session.chatPlaceholder": "Bericht",
    "session.chatOff": "De chat staat uit volgens de groepsregels.",
    "session.side": "Chat en personen",
    "session.sideUnread": "Chat en personen ({count} nieuw)",
    "session.raiseHand": "Hand opsteken",
    "session.lowerHand": "Hand laten zakken",
    "session.handRaised": "steekt de hand op",
    "session.needMoment": "Ik heb even tijd nodig",
    "session.needHelp": "Ik heb hulp nodig",
    "session.signalSeen": "Gezien",
    "session.signalFrom": "{name}: {kind}",
    "session.rules": "Groepsregels",
    "session.rulesButton": "Regels",
    "session.close": "Sluiten",
    "session.muteAll": "Iedereen dempen",
    "session.unmuteAll": "Demping opheffen",
    "session.lock": "Sessie sluiten voor nieuwkomers",
    "session.unlock": "Sessie openen voor nieuwkomers",
    "session.end": "Sessie beëindigen",
    "session.endConfirm": "De sessie voor iedereen beëindigen?",
    "session.leaveConfirm": "De sessie verlaten?",
    "session.leaveComeBack": "U kunt weer naar binnen zolang de sessie duurt.",
    "session.stay": "Blijven",
    "session.backIn": "Weer naar binnen",
    "session.tileActions": "Acties voor {name}",
    "session.tileMute": "Dempen",
    "session.tileAllow": "Laten spreken",
    "session.tileStopVideo": "Beeld stoppen",
    "session.tileAllowVideo": "Beeld toestaan",
    "session.tileRemove": "Uit de sessie halen",
    "session.removeReason": "Reden voor de deelnemer (optioneel)",
    "session.removeTitle": "{name} uit de sessie halen?",
    "session.cancel": "Annuleren",
    "session.mutedByTherapist": "gedempt door de therapeut",
    "session.waitsTurn": "wacht op de beurt",
    "session.lead_therapist": "hoofdtherapeut",
    "session.cotherapist": "cotherapeut",
    "session.member": "deelnemer",
    "session.observer": "toehoorder",
  },
  en: {
    "language.label": "Language",
    "start.title": "Video rooms for group therapy",
    "start.intro": "Everyone sees and hears everyone else at once. Nothing is recorded.",
    "start.roomLabel": "Room name",
    "start.roomHint": "Lowercase letters, digits and hyphens.",
    "start.roomInvalid": "Use only lowercase letters, digits and hyphens.",
    "start.go": "Go to the room",
    "start.demo": "Open the demo room",
    "room.label": "Room: {room}",
    "prejoin.title": "Ready to join?",
    "prejoin.noPreview": "No camera picture",
    "prejoin.nameLabel": "Your name",
    "prejoin.camera": "Camera",
    "prejoin.microphone": "Microphone",
    "prejoin.micLevel": "Say something: the bar should move.",
    "session.schedule": "The group meets: {schedule}",
    "privacy.link": "How we handle your data",
    "prejoin.testSound": "Play a test sound",
    "prejoin.testSoundHint": "Did you hear three notes? If not, turn the sound up or check your headphones.",
    "prejoin.noDevice": "None",
    "prejoin.join": "Join",
    "prejoin.joining": "Joining…",
    "prejoin.nameMissing": "Please enter your name.",
    "media.NotAllowedError":
      "Your browser does not allow the camera and microphone. Click the camera or lock icon in the " +
      "address bar, choose ‘Allow’ and reload the page. You can also join without camera and microphone.",
    "media.NotFoundError":
      "No camera or microphone was found. Connect one and reload the page, or join without.",
    "media.NotReadableError":
      "The camera or microphone is in use by another program. Close that program and reload the page, " +
      "or join without.",
    "media.unsupported":
      "This browser cannot use the camera. Please use a recent Chrome, Edge, Firefox or Safari.",
    "media.other": "The camera or microphone could not be started. You can join without, or reload the page.",
    "media.audioOnly": "No camera was found: you join with the microphone only.",
    "room.title": "Group",
    "room.you": "{name} (you)",
    "room.mute": "Mute",
    "room.unmute": "Unmute",
    "room.cameraOff": "Camera off",
    "room.cameraOn": "Camera on",
    "room.othersVideoOff": "Others' video off",
    "room.othersVideoOn": "Others' video on",
    "hint.weakLine":
      "The others' sound and picture are not coming through well. Press ‘Others' video off’ to " +
      "hear everyone better, or ‘Only who speaks’ to see just whoever is speaking.",
    "hint.speakersOnly": "To spare your connection you see only the video of whoever speaks.",
    "hint.speakersOnlySession":
      "To spare your connection you see only the video of the therapists and whoever speaks.",
    "room.onlyWhoSpeaks": "Only who speaks",
    "room.everyonesVideo": "Show everyone",
    "room.leave": "Leave",
    "room.muted": "Microphone is off",
    "tile.connection.bad": "Very weak connection",
    "tile.connection.weak": "Weak connection",
    "tile.handRaised": "Hand raised",
    "tile.needHelp": "Needs help",
    "tile.needMoment": "Needs a moment",
    "notice.mutedByTherapist": "The therapist has muted you: the others do not hear you.",
    "notice.waitTurn": "During the round the others hear you only when it is your turn.",
    "notice.videoStopped": "The therapist has stopped your video: the others do not see you.",
    "notice.signalSent": "Your signal went to the therapists only. They have not seen it yet.",
    "notice.signalSeen": "A therapist has seen your signal.",
    "notice.connectionWeak": "Your connection is weak: the others may see and hear you with interruptions.",
    "notice.connectionWeakSending":
      "Your connection is weak when sending: the others may hear you with interruptions. " +
      "Click ‘Camera off’: your voice then comes through better.",
    "room.speaking": "speaking",
    "room.gridLabel": "Participants",
    "status.connecting": "Connecting…",
    "status.connected": "Connected",
    "status.othersVideoOff": "Connected. You hear the others but do not see their video: this spares your connection.",
    "status.mediaProblem": "The connection is weak or interrupted. Please wait…",
    "status.reconnecting": "The connection was lost. Reconnecting… Your place is kept.",
    "tile.reconnecting": "Reconnecting…",
    "status.reconnectingRoom": "The connection was lost. Reconnecting…",
    "session.reconnecting": "reconnecting…",
    "left.title": "You have left the room",
    "left.titleClosed": "The connection has ended",
    "left.rejoin": "Join again",
    "cause.left": "You left the room.",
    "cause.connection_lost": "The connection to the server was lost.",
    "cause.idle": "The connection was silent for too long and was closed.",
    "cause.shutdown": "The server is restarting. Please try again in a minute.",
    "cause.in_use": "This invite link is in use on another device. Close the session there first.",
    "cause.replaced": "You joined on another device.",
    "cause.logged_out": "Your login has ended: logged out elsewhere, password changed or account disabled. Your place is kept for a minute.",
    "session.loginAgain": "Log in again",
    "cause.removed": "A therapist removed you from this session.",
    "cause.session_ended": "The session has ended.",
    "error.room_full": "This room is full.",
    "error.invalid_data": "This name cannot be used. Please choose another name.",
    "error.connect": "The server cannot be reached. Check your internet connection and try again.",
    "error.other": "Something went wrong ({code}). Please try again.",
    "session.next": "Next",
    "session.devicesTitle": "Camera and microphone",
    "session.rulesTitle": "Ground rules",
    "session.rulesAgree": "I have read the ground rules and I agree",
    "session.rulesEnter": "I agree, go in",
    "session.rulesAgain": "You accepted these rules before.",
    "session.rulesContinue": "Go in",
    "session.waitingTitle": "Please wait",
    "session.waitingText": "The therapist will let you in shortly.",
    "session.notOpenYet": "The session has not started yet. Check your camera and microphone and read the ground rules meanwhile: you will go in by yourself as soon as the therapist opens the session.",
    "session.waitingForStart": "The session has not started yet. This page goes on by itself as soon as the therapist opens the session; there is nothing you need to do.",
    "session.notOpen": "The session has not been opened yet. Please try again in a moment.",
    "session.inviteInvalid": "This invite link does not work (any more). Ask your therapist for a new one.",
    "session.inviteExpired": "This invite link has expired. Ask your therapist for a new one.",
    "session.locked": "The session is closed to newcomers.",
    "session.inUse": "This invite link is in use on another device. Close the session there first, or try again in a minute.",
    "session.removedBefore": "You cannot enter this session any more.",
    "session.loginRequired": "Please log in as a therapist first.",
    "session.tryAgain": "Try again",
    "session.noPhase": "The session has not started yet",
    "session.timeLeft": "{time} left",
    "session.overTime": "{time} over time",
    "session.advancePhase": "Next phase",
    "session.startPhases": "Start the session",
    "session.turnDone": "I'm done",
    "session.turnPass": "I pass",
    "session.yourTurn": "It is your turn",
    "session.order": "Order",
    "session.passed": "passed",
    "session.participants": "Participants",
    "session.observers": "Observers",
    "session.waitingRoom": "Waiting room",
    "session.admit": "Let in",
    "session.chat": "Chat",
    "session.chatGroup": "Group",
    "session.chatTherapists": "Therapists",
    "session.chatSend": "Send",
    "session.chatPlaceholder": "Message",
    "session.chatOff": "The ground rules switch the chat off.",
    "session.side": "Chat and people",
    "session.sideUnread": "Chat and people ({count} new)",
    "session.raiseHand": "Raise hand",
    "session.lowerHand": "Lower hand",
    "session.handRaised": "raises a hand",
    "session.needMoment": "I need a moment",
    "session.needHelp": "I need help",
    "session.signalSeen": "Seen",
    "session.signalFrom": "{name}: {kind}",
    "session.rules": "Ground rules",
    "session.rulesButton": "Ground rules",
    "session.close": "Close",
    "session.muteAll": "Mute everyone",
    "session.unmuteAll": "Lift the mute",
    "session.lock": "Close to newcomers",
    "session.unlock": "Open to newcomers",
    "session.end": "End the session",
    "session.endConfirm": "End the session for everyone?",
    "session.leaveConfirm": "Leave the session?",
    "session.leaveComeBack": "You can come back in while the session lasts.",
    "session.stay": "Stay",
    "session.backIn": "Go back in",
    "session.tileActions": "Actions for {name}",
    "session.tileMute": "Mute",
    "session.tileAllow": "Let speak",
    "session.tileStopVideo": "Stop video",
    "session.tileAllowVideo": "Allow video",
    "session.tileRemove": "Remove from session",
    "session.removeReason": "Reason for the member (optional)",
    "session.removeTitle": "Remove {name} from the session?",
    "session.cancel": "Cancel",
    "session.mutedByTherapist": "muted by the therapist",
    "session.waitsTurn": "waits for their turn",
    "session.lead_therapist": "lead therapist",
    "session.cotherapist": "cotherapist",
    "session.member": "member",
    "session.observer": "observer",
  },
};

export const LANGUAGES = Object.keys(TEXTS);
const STORAGE_KEY = "grouproom.language";
const listeners = [];

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

function storedLanguage() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(value) ? value : null;
  } catch {
    return null;
  }
}

let current = storedLanguage() || browserLanguage();

export function language() {
  return current;
}

export function hasText(key) {
  return key in TEXTS[current];
}

/** The text for `key` in the current language, with {placeholders} filled in. */
export function t(key, params = {}) {
  const text = TEXTS[current][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Fill every element that has data-i18n (text) or data-i18n-aria-label. */
export function applyTexts(root = document) {
  document.documentElement.lang = current;
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-aria-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nAriaLabel));
  }
  // Links to the server's own pages (the privacy page) open in the page's language.
  for (const element of root.querySelectorAll("a[data-i18n-href]")) {
    element.href = `${element.dataset.i18nHref}?lang=${current}`;
  }
}

function apply(value, remember) {
  if (!LANGUAGES.includes(value) || value === current) return;
  current = value;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, value);
    } catch {
      // Private browsing: the choice lasts for this page only.
    }
  }
  applyTexts();
  for (const listener of listeners) listener(value);
}

/** The person's own choice (the #language select): applied and remembered on this device. */
export function setLanguage(value) {
  apply(value, true);
}

/** A default (a therapy group's language): applied unless the person chose one here. */
export function useDefaultLanguage(value) {
  if (storedLanguage() === null) apply(value, false);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** Connect the #language select and translate the page. */
export function setUpLanguage(select) {
  select.value = current;
  select.addEventListener("change", () => setLanguage(select.value));
  onLanguageChange((value) => (select.value = value));
  applyTexts();
}
