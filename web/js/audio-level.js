// The speaking indicator: the audio level of a track, measured in the browser with
// Web Audio, reported as speaking / not speaking with a short hold against flicker.

const SAMPLE_INTERVAL_MS = 100;
const SPEAKING_LEVEL = 0.015; // RMS of the samples, full scale = 1
const HOLD_MS = 400;
const QUIET_DB = -60; // the microphone bar's empty end: a quiet room
const LOUD_DB = -10; // its full end: a raised voice close to the microphone

let context = null;

/** Create or resume the shared AudioContext; call it from a click (autoplay rules). */
export function resumeAudio() {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (!AudioContextClass) return null;
  if (!context) context = new AudioContextClass();
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

/**
 * Samples the level of `track` (RMS of the samples, full scale = 1) every
 * SAMPLE_INTERVAL_MS and hands it to onLevel(level). Returns stop().
 */
export function sampleLevel(track, onLevel) {
  const audio = resumeAudio();
  if (!audio || !track) return () => {};
  const source = audio.createMediaStreamSource(new MediaStream([track]));
  const analyser = audio.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    onLevel(Math.sqrt(sum / samples.length));
  }, SAMPLE_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    source.disconnect();
  };
}

/** Watch `track`; calls onChange(true/false) when speaking starts or stops. Returns stop(). */
export function watchSpeaking(track, onChange) {
  let speaking = false;
  let lastLoud = 0;
  const stop = sampleLevel(track, (level) => {
    const now = performance.now();
    if (level > SPEAKING_LEVEL && track.enabled) lastLoud = now;
    const nowSpeaking = now - lastLoud < HOLD_MS;
    if (nowSpeaking !== speaking) {
      speaking = nowSpeaking;
      onChange(speaking);
    }
  });
  return () => {
    stop();
    if (speaking) onChange(false);
  };
}

/** Where a level `rms` (full scale = 1) sits on the microphone bar, 0 to 1: in
 * decibels, so that ordinary speech fills about half of it. */
export function meterValue(rms) {
  if (!(rms > 0)) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - QUIET_DB) / (LOUD_DB - QUIET_DB)));
}
