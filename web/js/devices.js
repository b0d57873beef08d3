// The device check before entering: a preview of the camera, and the camera and
// microphone choices (shared by the room page and the session page).
import { t } from "./i18n.js";
import { failureKey, listDevices, startLocalMedia } from "./local-media.js";

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
 * (Re)start the camera and microphone chosen in the selects, show the preview, and
 * list the devices. Returns the new stream (or null) and the text key of a problem.
 */
export async function previewDevices({ camera, microphone, preview, previewOff }, previous) {
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
  const { cameras, microphones } = await listDevices();
  fillSelect(camera, stream ? cameras : [], deviceIdOf(stream && stream.getVideoTracks()[0]), "Camera");
  fillSelect(microphone, stream ? microphones : [], deviceIdOf(stream && stream.getAudioTracks()[0]), "Microphone");
  return { stream, errorKey };
}
