// A page shown to a logged-in therapist (her groups, a group's roster with its
// invite links, attendance, the audit log, her account) leaves the screen once her
// login has ended: logged out in another tab, her password changed, her account
// disabled, or 3 hours without use. On a shared computer at the practice the
// group's names would otherwise stay on the screen until someone clicked.
// Asking (every minute while the page is shown, and at once when it is shown
// again) does not count as use of the login. A page with something typed in it
// stays and says so instead: leaving would lose it (sending the form would not
// save it either, without a login). The session page has its own watch.

const CHECK_MS = 60000;

async function loginStands() {
  try {
    const response = await fetch("/login/state", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) return true; // a server error says nothing about the login
    const data = await response.json();
    return data.logged_in !== false;
  } catch {
    return true; // the server restarts, or the line is down: ask again later
  }
}

function somethingTyped() {
  const fields = document.querySelectorAll(
    "textarea, input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
  );
  return Array.from(fields).some((field) => field.value !== field.defaultValue);
}

function sayItEnded() {
  const notice = document.createElement("p");
  notice.className = "message";
  notice.id = "login-ended";
  notice.setAttribute("role", "alert");
  notice.textContent = document.body.dataset.loginEndedTyping || "";
  document.querySelector("main")?.prepend(notice);
}

let timer = null;
let ended = false;

async function check() {
  clearTimeout(timer);
  timer = null;
  if (ended) return;
  if (await loginStands()) {
    if (document.visibilityState !== "hidden") timer = setTimeout(check, CHECK_MS);
    return;
  }
  ended = true;
  if (somethingTyped()) {
    sayItEnded();
    return;
  }
  const back = document.body.dataset.loginNext || "";
  const next = back ? `&next=${encodeURIComponent(back)}` : "";
  // Replaced, not added to the history: Back does not bring the page back.
  location.replace(`/login?ended=1${next}`);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    check();
  } else {
    clearTimeout(timer);
    timer = null;
  }
});
timer = setTimeout(check, CHECK_MS);
