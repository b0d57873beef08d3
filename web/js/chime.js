// A soft chime made with Web Audio (no sound file), played on this device only and
// never sent: a member who waits may be looking away when she is let in, and a
// therapist busy with the group hears that someone new is at the waiting room.
// Before entering, a louder three-note tune checks the speakers or headphones.

import { resumeAudio } from "./audio-level.js";

const NOTE_S = 0.18; // from one note's start to the next
const FADE_S = 0.6;
const VOLUME = 0.12;

export const LET_IN = [660, 880]; // rising: you are in
export const KNOCK = [880, 660]; // falling: someone waits
export const TEST_SOUND = [523, 659, 784]; // C, E, G: can you hear this?
export const TEST_VOLUME = 0.3; // about as loud as a voice in the room

/** Plays the notes (frequencies in Hz) one after the other. */
export function chime(notes, volume = VOLUME) {
  const audio = resumeAudio();
  if (!audio) return;
  const start = audio.currentTime + 0.05;
  notes.forEach((frequency, index) => {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    const at = start + index * NOTE_S;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(volume, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + FADE_S);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + FADE_S + 0.05);
  });
}
