// The microphone and camera buttons of the room page and the session page: the
// session changes, and the own tile shows it at once.
import { failureKey } from "./local-media.js";

function ownTile(grid) {
  return [...grid.tiles.values()].find((tile) => tile.self);
}

/** Microphone on or off. The tile changes at once (`render`); telling the others follows. */
export async function toggleMicrophone(session, grid, render) {
  const told = session.setAudioMuted(!session.audioMuted);
  const self = ownTile(grid);
  if (self) self.setMediaState(session.audioMuted, session.videoMuted);
  render();
  await told;
}

/** Camera off (its light goes out) or on again. Returns the text key of a failure, or null. */
export async function toggleCamera(session, grid) {
  let errorKey = null;
  try {
    await session.setVideoMuted(!session.videoMuted);
  } catch (error) {
    errorKey = failureKey(error);
  }
  const self = ownTile(grid);
  if (self) {
    self.setTracks({ video: session.videoTrack });
    self.setMediaState(session.audioMuted, session.videoMuted);
  }
  return errorKey;
}
