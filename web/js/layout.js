// The grid layout: n tiles of the same size and aspect ratio, as large as the box allows,
// without scrolling.

/**
 * Choose the number of columns that makes n tiles largest in a width x height box.
 * Returns {columns, rows, tileWidth, tileHeight} in pixels (whole pixels, rounded down).
 */
export function bestLayout(n, width, height, gap = 8, aspect = 16 / 9) {
  const count = Math.max(1, n);
  let best = { columns: 1, rows: count, tileWidth: 0, tileHeight: 0 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const cellWidth = (width - gap * (columns - 1)) / columns;
    const cellHeight = (height - gap * (rows - 1)) / rows;
    if (cellWidth <= 0 || cellHeight <= 0) continue;
    const tileWidth = Math.floor(Math.min(cellWidth, cellHeight * aspect));
    const tileHeight = Math.floor(tileWidth / aspect);
    if (tileWidth > best.tileWidth) best = { columns, rows, tileWidth, tileHeight };
  }
  return best;
}
