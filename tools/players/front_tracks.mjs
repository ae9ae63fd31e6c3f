// Opens the front's page (/_front/?src=...) in headless Chromium and uses its player's track
// selectors as a viewer would: waits for playback and the audio and text choices, chooses the
// text track, then each audio language in turn, and after each choice waits until the page says
// the player uses it (data-in-use; text: the video's showing text track) and currentTime has moved
// on by a second. Prints one JSON report; exit 1 if a wait timed out.
// Usage: node front_tracks.mjs <page-url> [timeout-ms]; CHROMIUM overrides /usr/bin/chromium.
import { chromium } from "playwright-core";

const [page_url, timeout = "90000"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
const report = { audio: [], text: [], switches: [], error: null };
let code = 0;
try {
  const page = await browser.newPage();
  const console_lines = [];
  page.on("console", (m) => console_lines.push(m.text()));
  page.on("pageerror", (e) => console_lines.push("page error: " + e.message));
  report.console = console_lines;
  report.page = () => page;
  const wait = (what, condition, arg) =>
    page.waitForFunction(condition, arg, { timeout: Number(timeout), polling: 200 })
      .catch(() => { throw new Error("timed out waiting for " + what); });
  const now = () => page.evaluate(() => document.getElementById("video").currentTime);
  const options = (id) => page.evaluate((id) => [...document.getElementById(id).options]
    .map((o) => ({ value: o.value, label: o.textContent })), id);
  async function advances(what) {
    const from = await now();
    await wait(what + ": currentTime advancing", (t) => document.getElementById("video").currentTime > t + 1, from);
    return { from, at: await now() };
  }
  await page.goto(page_url);
  await wait("playback and the track choices", () => document.getElementById("video").currentTime > 0.5
    && document.getElementById("audio-track").options.length > 1 && !document.getElementById("tracks").hidden);
  report.audio = await options("audio-track");
  report.text = (await options("text-track")).filter((o) => o.value !== "-1");
  for (const t of report.text) {
    await page.selectOption("#text-track", t.value);
    const lang = t.label.split(" ")[0];
    await wait("text " + lang, (lang) => [...document.getElementById("video").textTracks]
      .some((x) => x.mode === "showing" && x.language === lang), lang);
    report.switches.push({ to: "text " + lang, ...(await advances("text " + lang)) });
  }
  const first = await page.evaluate(() => document.getElementById("audio-track").value);
  const order = [...report.audio.filter((o) => o.value !== first), ...report.audio.filter((o) => o.value === first)];
  for (const t of order) {
    await page.selectOption("#audio-track", t.value);
    const lang = t.label.split(" ")[0];
    await wait("audio " + lang, (lang) => document.getElementById("audio-track").dataset.inUse === lang, lang);
    report.switches.push({ to: "audio " + lang, ...(await advances("audio " + lang)) });
  }
  report.player = await page.textContent("#player-state");
} catch (e) {
  report.error = String(e.message || e);
  code = 1;
  // Where it stood: the player's state line, the time, the choices shown.
  report.at = await report.page().evaluate(() => ({
    player: document.getElementById("player-state").textContent,
    currentTime: document.getElementById("video").currentTime,
    audio: document.getElementById("audio-track").options.length,
    text: document.getElementById("text-track").options.length,
    tracksHidden: document.getElementById("tracks").hidden,
  })).catch((e) => String(e));
  report.console = report.console.slice(-20);
} finally {
  await browser.close();
}
delete report.page;
if (!report.error) delete report.console;
console.log(JSON.stringify(report));
process.exit(code);
