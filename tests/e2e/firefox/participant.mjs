// One Firefox participant for grouproom's end-to-end tests, driven through WebDriver
// BiDi (puppeteer-core, Debian's firefox-esr). Runs inside the test's network namespace.
//
//   node participant.mjs URL NAME EXPECTED_REMOTE_TILES
//
// An open room's URL (/r/...): joins with NAME. A therapy session's invite link
// (/join/...): goes through the devices step, agrees to the ground rules, enters
// and waits (up to 45 s) to be let in from the waiting room.
// Then waits until EXPECTED_REMOTE_TILES remote videos play,
// prints one JSON line with what it saw, then stays in the room until its standard
// input closes (or 180 s pass) and leaves. Meanwhile each line "stats" on its
// standard input is answered with one JSON line: what the page received so far;
// each line "targets", with the jitter buffer targets of the videos it receives.
import { readFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const [url, name, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
const WAIT_MS = 45000;

const prefs = {
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  "media.navigator.permission.fake": true,
  "media.peerconnection.ice.loopback": true,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  // A server on an address of a test's own namespace, over plain http (as Chromium's
  // --unsafely-treat-insecure-origin-as-secure in the network fault test).
  "media.devices.insecure.enabled": true,
  "media.getusermedia.insecure.enabled": true,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  // No calls home: telemetry, studies, remote settings, captive portal, Safe Browsing,
  // certificate checks, updates, push, network prediction.
  "app.normandy.enabled": false,
  "app.update.enabled": false,
  "app.update.auto": false,
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "browser.safebrowsing.downloads.enabled": false,
  "browser.safebrowsing.blockedURIs.enabled": false,
  "browser.safebrowsing.provider.mozilla.updateURL": "",
  "browser.safebrowsing.provider.google4.updateURL": "",
  "browser.search.update": false,
  "browser.newtabpage.enabled": false,
  "browser.startup.homepage_override.mstone": "ignore",
  "captivedetect.canonicalURL": "",
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
  "network.predictor.enabled": false,
  "security.OCSP.enabled": 0,
  "security.remote_settings.crlite_filters.enabled": false,
  "services.settings.server": "http://127.0.0.1:9/",
  "datareporting.healthreport.uploadEnabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "toolkit.telemetry.unified": false,
  "toolkit.telemetry.server": "",
  "dom.push.enabled": false,
  "extensions.update.enabled": false,
  "extensions.getAddons.cache.enabled": false,
  "extensions.blocklist.enabled": false,
  "browser.ping-centre.telemetry": false,
  "geo.provider.network.url": "",
  "identity.fxaccounts.enabled": false,
};

// Scripts the tests run in pages, shared with the Chromium tests (../page_scripts):
// one remembers the page's peer connections, the others read what they received and
// the jitter buffer targets the page set.
const PAGE_SCRIPTS = new URL("../page_scripts/", import.meta.url);
const RECORD_PEER_CONNECTIONS = readFileSync(new URL("record-peer-connections.js", PAGE_SCRIPTS), "utf8");
const pageCall = (file) => `(${readFileSync(new URL(file, PAGE_SCRIPTS), "utf8")})()`;
const ANSWERS = { stats: pageCall("inbound-media.js"), targets: pageCall("jitter-targets.js") };

function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: "/usr/bin/firefox-esr",
  headless: true,
  extraPrefsFirefox: prefs,
  env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: "1" },
});
const consoleErrors = [];
const quit = setTimeout(() => finish(3), 180000);

async function finish(code) {
  clearTimeout(quit);
  await browser.close().catch(() => {});
  process.exit(code);
}

let page = null;
try {
  page = await browser.newPage();
  await page.evaluateOnNewDocument(RECORD_PEER_CONNECTIONS);
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.setViewport({ width: 1024, height: 640 });
  await page.goto(url);
  let rules = null;
  let enterLockedUntilAgreed = null;
  if (url.includes("/join/")) {
    // Visible: over a slow line the page takes a while to show its first step.
    await page.waitForSelector("#devices-next:not([disabled])", { visible: true, timeout: WAIT_MS });
    await page.click("#devices-next");
    await page.waitForSelector("#step-rules:not([hidden])");
    rules = await page.$eval("#rules-text", (element) => element.textContent);
    enterLockedUntilAgreed = await page.$eval("#rules-enter", (button) => button.disabled);
    await page.click("#rules-agree");
    await page.waitForSelector("#rules-enter:not([disabled])");
    await page.click("#rules-enter");
    // Let in at once (an admitted member skips the waiting room) or after a wait.
    await page.waitForSelector("#step-waiting:not([hidden]), #room:not([hidden])", {
      timeout: WAIT_MS,
    });
  } else {
    await page.waitForSelector("#name");
    await page.type("#name", name);
    await page.click("#join-button");
  }
  await page.waitForSelector("#room:not([hidden])", { timeout: WAIT_MS });

  const remoteVideos = () =>
    page.evaluate(() =>
      [...document.querySelectorAll(".tile:not([data-self])")].map((tile) => {
        const video = tile.querySelector("video");
        return {
          name: tile.querySelector(".tile-name").textContent,
          width: video.videoWidth,
          time: video.currentTime,
        };
      }),
    );
  const deadline = Date.now() + WAIT_MS;
  let first = [];
  let playing = [];
  while (Date.now() < deadline) {
    first = await remoteVideos();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = await remoteVideos();
    playing = second.filter((video, index) => {
      const before = first[index];
      return video.width > 0 && before && before.name === video.name && video.time > before.time;
    });
    if (second.length === expected && playing.length === expected) break;
  }
  const tiles = await page.evaluate(() => document.querySelectorAll(".tile").length);
  report({ ok: playing.length === expected, tiles, playing, rules, enterLockedUntilAgreed, consoleErrors });
} catch (error) {
  // What the page showed, to tell why it stopped.
  const shown = await browser
    .pages()
    .then((pages) =>
      pages[pages.length - 1].evaluate(() => ({
        sections: [...document.querySelectorAll("section:not([hidden])")].map((s) => s.id),
        status: document.querySelector("#status")?.textContent ?? null,
        message: document.querySelector("#left-message")?.textContent ?? null,
      })),
    )
    .catch(() => null);
  report({ ok: false, error: String(error), shown, consoleErrors });
  await finish(1);
}

let lines = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", async (chunk) => {
  lines += chunk;
  let end;
  while ((end = lines.indexOf("\n")) >= 0) {
    const command = lines.slice(0, end).trim();
    lines = lines.slice(end + 1);
    if (!Object.hasOwn(ANSWERS, command)) continue;
    report(await page.evaluate(ANSWERS[command]).catch((error) => ({ error: String(error) })));
  }
});
process.stdin.on("end", () => finish(0));
process.stdin.on("close", () => finish(0));
