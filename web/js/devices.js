// The device check before entering: a preview of the camera, the camera and
// microphone choices, a bar that moves with the microphone, and a test sound for the
// speakers (shared by the room page and the session page). "They cannot hear me"
// and "I cannot hear them" are the commonest trouble of a first session.
import { meterValue, resumeAudio, sampleLevel } from "./audio-level.js";
import { chime, TEST_SOUND, TEST_VOLUME } from "./chime.js";
import { applyTexts, t } from "./i18n.js";
import { failureKey, listDevices, startLocalMedia } from "./local-media.js";

let stopLevel = () => {};

/** The bar follows the stream's microphone; without one (refused, none found) the
 * bar and its "say something" are not shown: the page's message says why. */
function showMicrophoneLevel(stream, meter) {
  stopMicrophoneLevel();
  if (!meter) return;
  meter.value = 0;
  const track = stream && stream.getAudioTracks()[0];
  meter.parentElement.hidden = !track;
  if (!track) return;
  stopLevel = sampleLevel(track, (rms) => {
    meter.value = meterValue(rms);
  });
}

/** Stop the bar (when the device check is left). */
export function stopMicrophoneLevel() {
  stopLevel();
  stopLevel = () => {};
}

const DEVICE_CHECKS = `
  <div class="device-check">
    <meter id="microphone-level" class="microphone-level" min="0" max="1" value="0"
      aria-labelledby="microphone-level-label"></meter>
    <span id="microphone-level-label" class="muted-note" data-i18n="prejoin.micLevel"></span>
  </div>
  <div class="device-check">
    <button id="test-sound" type="button" data-i18n="prejoin.testSound"></button>
    <span id="test-sound-hint" class="muted-note" role="status"
      data-i18n="prejoin.testSoundHint" hidden></span>
  </div>`;

/**
 * The microphone's bar (say something: it moves) and the test-sound button (three
 * notes, then what to do if nothing was heard), built into `container`. Returns the
 * bar, for previewDevices. The page's first tap also lets the browser start audio
 * for the bar (autoplay rules).
 */
export function addDeviceChecks(container) {
  container.innerHTML = DEVICE_CHECKS;
  applyTexts(container);
  const hint = container.querySelector("#test-sound-hint");
  document.addEventListener("pointerdown", () => resumeAudio(), { once: true });
  container.querySelector("#test-sound").addEventListener("click", () => {
    chime(TEST_SOUND, TEST_VOLUME);
    hint.hidden = false;
  });
  return container.querySelector("#microphone-level");
}

export function fillSelect(select, devices, selectedId, fallbackLabel) {
  select.replaceChildren();
  if (devices.length === 0) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = t("prejoin.noDevice");
    select.append(option);
    select.disabled = true;
    return;
  }
  select.disabled = false;
  devices.forEach((device, index) => {
    const option = document.createElement("option");
    option.value = device.deviceId;
    option.textContent = device.label || `${fallbackLabel} ${index + 1}`;
    select.append(option);
  });
  if (selectedId) select.value = selectedId;
}

function deviceIdOf(track) {
  return track && track.getSettings ? track.getSettings().deviceId || "" : "";
}

/**
 * (Re)start the camera and microphone chosen in the selects, show the preview and
 * the microphone's level, and list the devices. Returns the new stream (or null)
 * and the text key of a problem.
 */
export async function previewDevices({ camera, microphone, preview, previewOff, level }, previous) {
  if (previous) for (const track of previous.getTracks()) track.stop();
  const { stream, error } = await startLocalMedia({
    cameraId: camera.value,
    microphoneId: microphone.value,
  });
  const hasVideo = Boolean(stream && stream.getVideoTracks().length);
  let errorKey = null;
  if (error && stream && !hasVideo) errorKey = "media.audioOnly";
  else if (error) errorKey = failureKey(error);
  preview.srcObject = hasVideo ? stream : null;
  previewOff.hidden = hasVideo;
  showMicrophoneLevel(stream, level);
  const { cameras, microphones } = await listDevices();
  fillSelect(camera, stream ? cameras : [], deviceIdOf(stream && stream.getVideoTracks()[0]), "Camera");
  fillSelect(microphone, stream ? microphones : [], deviceIdOf(stream && stream.getAudioTracks()[0]), "Microphone");
  return { stream, errorKey };
}
