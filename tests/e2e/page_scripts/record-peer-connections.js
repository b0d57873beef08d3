// Test-only instrumentation, run in a page before its own scripts: remember every
// peer connection so that a test can read its statistics (the web client keeps its
// own out of reach). Used by the Chromium tests (conftest.py) and the Firefox driver
// (firefox/participant.mjs).
(() => {
  const Original = window.RTCPeerConnection;
  if (!Original) return;
  window.__e2ePeerConnections = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__e2ePeerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Original);
})();
