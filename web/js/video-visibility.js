// Which remote videos this page shows: the tiles inside the viewport, and none while
// the page is hidden (another tab, a minimised window, a locked tablet). The server
// forwards only those (`set_visible_video`, docs/protocol.md), so a video nobody looks
// at costs neither the member's bandwidth nor the server's work. A member on a weak
// line can also narrow it (`setAllowed`): to whoever speaks (speaker-focus.js), or to
// nobody (the others' video off), whatever is in view.

// Changes within this time go out as one message (a grid re-layout moves many tiles).
const SEND_DELAY_MS = 100;

export class VideoVisibility {
  /**
   * grid: the element that holds the tiles (each with data-participant-id; the own
   * tile has data-self="true" and is left out). send(ids): tells the server, returns
   * a promise.
   */
  constructor(grid, send, { allowed = null } = {}) {
    this.grid = grid;
    this.send = send;
    this.allowed = allowed; // null: whatever is in view; else only these ids
    this.observed = new Set();
    this.inView = new Set();
    this.lastSent = null;
    this.timer = null;
    this.stopped = false;
    this.intersections = new IntersectionObserver((entries) => this.intersected(entries));
    this.mutations = new MutationObserver(() => this.observeTiles());
    this.visibilityChanged = () => this.flush();
  }

  start() {
    this.mutations.observe(this.grid, { childList: true });
    document.addEventListener("visibilitychange", this.visibilityChanged);
    this.observeTiles();
  }

  stop() {
    this.stopped = true;
    this.mutations.disconnect();
    this.intersections.disconnect();
    document.removeEventListener("visibilitychange", this.visibilityChanged);
    clearTimeout(this.timer);
    this.timer = null;
  }

  observeTiles() {
    const present = new Set();
    for (const tile of this.grid.querySelectorAll(":scope > [data-participant-id]")) {
      if (tile.dataset.self === "true") continue;
      present.add(tile);
      if (!this.observed.has(tile)) {
        this.observed.add(tile);
        this.intersections.observe(tile); // reports the tile's first state soon
      }
    }
    for (const tile of [...this.observed]) {
      if (present.has(tile)) continue;
      this.intersections.unobserve(tile);
      this.observed.delete(tile);
      this.inView.delete(tile);
    }
    this.schedule();
  }

  intersected(entries) {
    for (const entry of entries) {
      if (entry.isIntersecting) this.inView.add(entry.target);
      else this.inView.delete(entry.target);
    }
    this.schedule();
  }

  /** Only these participants' video, of those in view (a set of ids), or whatever is
   * in view (null). Sent with the next batch, like a change of view: at once, right
   * after `start`, the tiles in view are not known yet, and an empty list would pause
   * every video only to resume it (each at a keyframe) a moment later. */
  setAllowed(allowed) {
    this.allowed = allowed;
    this.schedule();
  }

  /** The participant ids whose video is shown now. */
  shown() {
    if (document.visibilityState === "hidden") return [];
    const ids = [...this.inView].map((tile) => tile.dataset.participantId);
    const allowed = this.allowed;
    return (allowed === null ? ids : ids.filter((id) => allowed.has(id))).sort();
  }

  schedule() {
    if (this.timer !== null || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, SEND_DELAY_MS);
  }

  /** After a reconnect the server knows nothing: send the list again. */
  resend() {
    this.lastSent = null;
    this.flush();
  }

  /** Send the current list now, unless the server has it already. */
  flush() {
    if (this.stopped) return;
    const ids = this.shown();
    const key = ids.join(" ");
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.send(ids).catch(() => {
      this.lastSent = null; // try again with the next change
    });
  }
}

/**
 * Start telling the server which videos the tiles in `grid` show, over the socket
 * `currentSignaling()` returns (a new one after each reconnect). `allowed`: the
 * member's choice of whose video she sees (own-controls.js; null: everyone's).
 */
export function watchVisibleVideo(grid, currentSignaling, allowed = null) {
  const send = (ids) => {
    const signaling = currentSignaling();
    if (!signaling) return Promise.reject(new Error("not connected"));
    return signaling.request("set_visible_video", { participants: ids });
  };
  const visibility = new VideoVisibility(grid, send, { allowed });
  visibility.start();
  return visibility;
}
