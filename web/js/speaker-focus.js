// "Only who speaks": a member on a weak line sees the video of the therapists and of
// the last two people who spoke, and initials for the others. Eleven videos need at
// least 1.7 Mbit/s (150 kbit/s each, the server's floor); two to four fit a line that
// cannot carry them all, and she keeps the face of whoever speaks (lip reading, for a
// member who hears less well), where turning the others' video off leaves initials only.
//
// A short sound ("mm", a cough) must not move the video: someone counts as a speaker
// after SPEAKING_NEEDED_MS of speaking within the last SPEAKING_WINDOW_MS (the speaking
// indicator's own hold bridges the gaps between words), and the last two speakers
// stay, so that a conversation between two people does not switch back and forth.
// Each switch asks the speaker's browser for a keyframe, which the server limits.

export const SPEAKING_NEEDED_MS = 800;
export const SPEAKING_WINDOW_MS = 2000;
export const RECENT_SPEAKERS = 2;

export class SpeakerFocus {
  constructor({
    needed = SPEAKING_NEEDED_MS,
    window = SPEAKING_WINDOW_MS,
    keep = RECENT_SPEAKERS,
  } = {}) {
    this.needed = needed;
    this.window = window;
    this.keep = keep;
    this.spells = new Map(); // id -> [[start, end or null], ...] within the window
    this.recent = []; // the last speakers, the latest first
  }

  /** Someone's speaking indicator went on or off at `now` (ms). Whether the
   * speakers changed. */
  speaking(id, isSpeaking, now) {
    const spells = this.spells.get(id) || [];
    const open = spells.length > 0 && spells[spells.length - 1][1] === null;
    if (isSpeaking && !open) spells.push([now, null]);
    if (!isSpeaking && open) spells[spells.length - 1][1] = now;
    this.spells.set(id, spells);
    return this.update(now);
  }

  /** Count what was said up to `now` (ms); call it now and then while someone speaks.
   * Whether the set of speakers changed (not merely their order). */
  update(now) {
    const since = now - this.window;
    let changed = false;
    for (const [id, spells] of this.spells) {
      while (spells.length > 0 && spells[0][1] !== null && spells[0][1] <= since) spells.shift();
      if (spells.length === 0) {
        this.spells.delete(id);
        continue;
      }
      let spoken = 0;
      for (const [start, end] of spells) spoken += (end === null ? now : end) - Math.max(start, since);
      if (spoken >= this.needed && this.recent[0] !== id) {
        // The latest first: whoever spoke least recently gives way to a new speaker.
        changed ||= !this.recent.includes(id);
        this.recent = [id, ...this.recent.filter((other) => other !== id)].slice(0, this.keep);
      }
    }
    return changed;
  }

  /** Someone left: not a speaker any more. Whether the speakers changed. */
  forget(id) {
    this.spells.delete(id);
    const before = this.recent.length;
    this.recent = this.recent.filter((other) => other !== id);
    return this.recent.length !== before;
  }

  /** The ids whose video to show: `pinned` (the therapists) and the last speakers. */
  shown(pinned = []) {
    return new Set([...pinned, ...this.recent]);
  }
}
