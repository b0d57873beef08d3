// The grid of tiles: own tile first, then the others in the order they joined.
import { bestLayout } from "./layout.js";

const GAP_PX = 8;

export class Grid {
  constructor(element) {
    this.element = element;
    this.tiles = new Map();
    // Whose video the others' tiles show (own-controls.js, OthersVideo): null for
    // everyone's, else the ids in the set; the others show initials.
    this.shownVideo = null;
    // Someone else's speaking indicator went on or off: (id, speaking).
    this.onSpeaking = () => {};
    this.observer = new ResizeObserver(() => this.layout());
    this.observer.observe(element);
  }

  add(tile) {
    if (!tile.self) {
      tile.setVideoPaused(!this.showsVideoOf(tile.id));
      tile.onSpeaking = (speaking) => this.onSpeaking(tile.id, speaking);
    }
    this.tiles.set(tile.id, tile);
    this.element.append(tile.element);
    this.layout();
  }

  get(id) {
    return this.tiles.get(id);
  }

  remove(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    this.tiles.delete(id);
    tile.remove();
    this.layout();
  }

  /** Show the video of the others in `shown` (a set of ids; null: everyone's) and
   * initials on the other tiles. */
  showOthersVideo(shown) {
    this.shownVideo = shown;
    for (const tile of this.tiles.values()) {
      if (!tile.self) tile.setVideoPaused(!this.showsVideoOf(tile.id));
    }
  }

  showsVideoOf(id) {
    return this.shownVideo === null || this.shownVideo.has(id);
  }

  clear() {
    for (const tile of this.tiles.values()) tile.remove();
    this.tiles.clear();
  }

  render() {
    for (const tile of this.tiles.values()) tile.render();
  }

  layout() {
    const width = this.element.clientWidth;
    const height = this.element.clientHeight;
    if (width === 0 || height === 0) return;
    const { columns, tileWidth, tileHeight } = bestLayout(this.tiles.size, width, height, GAP_PX);
    this.element.style.setProperty("--columns", String(columns));
    this.element.style.setProperty("--tile-width", `${tileWidth}px`);
    this.element.style.setProperty("--tile-height", `${tileHeight}px`);
  }
}
