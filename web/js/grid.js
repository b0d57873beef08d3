// The grid of tiles: own tile first, then the others in the order they joined.
import { bestLayout } from "./layout.js";

const GAP_PX = 8;

export class Grid {
  constructor(element) {
    this.element = element;
    this.tiles = new Map();
    // The member's choice to see nobody's video (own-controls.js); the page reads it here.
    this.othersVideoPaused = false;
    this.observer = new ResizeObserver(() => this.layout());
    this.observer.observe(element);
  }

  add(tile) {
    if (!tile.self) tile.setVideoPaused(this.othersVideoPaused);
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

  /** Show every other participant's initials instead of their video, or their video again. */
  pauseOthersVideo(paused) {
    this.othersVideoPaused = paused;
    for (const tile of this.tiles.values()) if (!tile.self) tile.setVideoPaused(paused);
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
