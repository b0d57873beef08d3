// The camera and microphone: start them with the chosen devices, fall back to what
// is available, and name the reason when the browser refuses.

export const DEFAULT_VIDEO = { max_width: 640, max_height: 360, max_framerate: 25 };

function videoConstraints(deviceId, caps) {
  const constraints = {
    width: { ideal: caps.max_width, max: caps.max_width },
    height: { ideal: caps.max_height, max: caps.max_height },
    frameRate: { ideal: caps.max_framerate, max: caps.max_framerate },
  };
  if (deviceId) constraints.deviceId = { exact: deviceId };
  return constraints;
}

function audioConstraints(deviceId) {
  const constraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (deviceId) constraints.deviceId = { exact: deviceId };
  return constraints;
}

/** The i18n key of a getUserMedia failure. */
export function failureKey(error) {
  if (!error) return "media.other";
  if (error.name === "NotAllowedError" || error.name === "SecurityError") return "media.NotAllowedError";
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return "media.NotFoundError";
  if (error.name === "NotReadableError" || error.name === "AbortError") return "media.NotReadableError";
  if (error.name === "unsupported") return "media.unsupported";
  return "media.other";
}

/**
 * Start camera and microphone. Resolves {stream, error}: stream may hold both tracks,
 * one, or be null; error is the first failure (or null).
 */
export async function startLocalMedia({ cameraId = "", microphoneId = "", caps = DEFAULT_VIDEO } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, error: { name: "unsupported" } };
  }
  const attempts = [
    { audio: audioConstraints(microphoneId), video: videoConstraints(cameraId, caps) },
    { audio: audioConstraints(microphoneId), video: false },
    { audio: false, video: videoConstraints(cameraId, caps) },
  ];
  let firstError = null;
  for (const constraints of attempts) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      return { stream, error: firstError };
    } catch (error) {
      firstError = firstError || error;
      // A refusal covers every device: asking again only repeats it.
      if (error.name === "NotAllowedError" || error.name === "SecurityError") break;
    }
  }
  return { stream: null, error: firstError };
}

/** Start only the camera again (after it was switched off). */
export async function startCamera(cameraId, caps) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: videoConstraints(cameraId, caps),
  });
  return stream.getVideoTracks()[0];
}

export async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((device) => device.kind === "videoinput" && device.deviceId),
    microphones: devices.filter((device) => device.kind === "audioinput" && device.deviceId),
  };
}
