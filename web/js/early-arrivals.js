// The group page's line of members who already wait for the session to open (their
// pages try to enter every 10 s or so): kept current while the page is open, so that
// a therapist who has it open before a session sees them arrive without reloading.
// Once a session is open (the other therapist opened it), the page is loaded again.

const POLL_MS = 10000;
const POLL_LIMIT_MS = 3 * 60 * 60 * 1000; // a page left open all day stops asking

const line = document.getElementById("early-arrivals");

async function refresh() {
  let data;
  try {
    const response = await fetch(line.dataset.source, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // Logged out meanwhile: the login page comes back instead. Stop asking.
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) {
      return false;
    }
    data = await response.json();
  } catch {
    return true; // the server restarts, or the line is down: ask again later
  }
  if (data.session_open === true) {
    // The other therapist opened the session: the page shows it, and the way in.
    location.reload();
    return false;
  }
  const text = typeof data.line === "string" ? data.line : "";
  if (line.textContent !== text) line.textContent = text;
  line.hidden = text === "";
  return true;
}

if (line && line.dataset.source) {
  const started = Date.now();
  const poll = async () => {
    if (Date.now() - started > POLL_LIMIT_MS) return;
    // A hidden tab asks when it is shown again.
    if (document.visibilityState === "hidden") {
      document.addEventListener("visibilitychange", poll, { once: true });
      return;
    }
    if (await refresh()) setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
}
