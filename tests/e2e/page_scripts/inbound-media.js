// Test-only: inbound media on the page, what arrived and what was decoded (and how
// often and how long video froze, by the browser's own measure: Chromium, and Firefox
// ESR 153 too), over all its open peer connections; the round trip of the nominated
// candidate pair (ICE's checks; Firefox reports none) and the one the browser
// measured from the server's receiver reports on its own video (their LSR and DLSR).
// A function expression: the network fault test calls it in Chromium and in Firefox.
async () => {
  const totals = {
    audioPackets: 0, audioLost: 0, framesDecoded: 0, nacks: 0, plis: 0, lost: 0, freezes: 0,
    frozenMs: 0, rttMs: 0, reportedRttMs: 0,
  };
  for (const pc of window.__e2ePeerConnections || []) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((report) => {
      if (report.type === 'candidate-pair' && report.nominated && report.currentRoundTripTime) {
        totals.rttMs = Math.max(totals.rttMs, Math.round(report.currentRoundTripTime * 1000));
      }
      if (report.type === 'remote-inbound-rtp' && report.kind === 'video' && report.roundTripTime) {
        totals.reportedRttMs = Math.round(report.roundTripTime * 1000);
      }
      if (report.type !== 'inbound-rtp') return;
      if (report.kind === 'audio') {
        totals.audioPackets += report.packetsReceived || 0;
        totals.audioLost += report.packetsLost || 0;
      }
      if (report.kind === 'video') {
        totals.framesDecoded += report.framesDecoded || 0;
        totals.nacks += report.nackCount || 0;
        totals.plis += report.pliCount || 0;
        totals.lost += report.packetsLost || 0;
        totals.freezes += report.freezeCount || 0;
        totals.frozenMs += Math.round((report.totalFreezesDuration || 0) * 1000);
      }
    });
  }
  return totals;
}
