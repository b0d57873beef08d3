// The speaking indicator: the audio level of a track, measured in the browser with
// Web Audio, reported as speaking / not speaking with a short hold against flicker.

const SAMPLE_INTERVAL_MS = 100;
const SPEAKING_LEVEL = 0.015; // RMS of the samples, full scale = 1
const HOLD_MS = 400;

let context = null;

/** Create or resume the shared AudioContext; call it from a click (autoplay rules). */
export function resumeAudio() {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (!AudioContextClass) return null;
  if (!context) context = new AudioContextClass();
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

/** Watch `track`; calls onChange(true/false) when speaking starts or stops. Returns stop(). */
export function watchSpeaking(track, onChange) {
  const audio = resumeAudio();
  if (!audio || !track) return () => {};
  const source = audio.createMediaStreamSource(new MediaStream([track]));
  const analyser = audio.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let speaking = false;
  let lastLoud = 0;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    const level = Math.sqrt(sum / samples.length);
    const now = performance.now();
    if (level > SPEAKING_LEVEL && track.enabled) lastLoud = now;
    const nowSpeaking = now - lastLoud < HOLD_MS;
    if (nowSpeaking !== speaking) {
      speaking = nowSpeaking;
      onChange(speaking);
    }
  }, SAMPLE_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    source.disconnect();
    if (speaking) onChange(false);
  };
}
