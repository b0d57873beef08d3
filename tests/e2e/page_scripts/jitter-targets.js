// Test-only: the jitter buffer targets the page set on the videos it receives
// (web/js/steady-video.js), over its open peer connections; receivers without a
// target are left out. A function expression: the network fault test calls it in
// Chromium and in Firefox.
() =>
  (window.__e2ePeerConnections || [])
    .filter((pc) => pc.connectionState !== "closed")
    .flatMap((pc) => pc.getReceivers())
    .filter((receiver) => receiver.track.kind === "video" && receiver.jitterBufferTarget !== null)
    .map((receiver) => receiver.jitterBufferTarget)
