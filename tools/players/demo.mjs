// Opens the page `mirrorcast demo` prints, in headless Chromium, and uses it as a newcomer would:
// waits for the player to play from A, clicks "make A fail", watches the player go on with its
// segments from B, then clicks "bring A back" and waits for A to answer again. Prints one JSON
// line per stage; a stage not reached in time is printed as "timeout waiting for <stage>" and
// the exit code is 1. With SCREENSHOT=<path>, a PNG of the page once B answers.
// Usage: node demo.mjs <page-url> [timeout-ms]; CHROMIUM overrides /usr/bin/chromium.
import { launch } from "./chromium.mjs";

const [page_url, timeout = "60000"] = process.argv.slice(2);
const browser = await launch();
let code = 0;
try {
  const page = await browser.newPage();
  // `played`: the page's seconds played in all; it keeps growing when the clip starts over.
  const snapshot = () => page.evaluate(() => ({
    active: document.getElementById("active").textContent,
    answering: document.getElementById("answering").textContent,
    demo_shown: !document.getElementById("demo").hidden,
    demo_state: document.getElementById("demo-state").textContent,
    button: document.getElementById("toggle-a").textContent,
    player: document.getElementById("player-state").textContent,
    currentTime: document.getElementById("video").currentTime,
    played: Number(document.getElementById("video").dataset.played || 0),
    error: document.getElementById("error").textContent,
  }));
  const wait = async (stage, condition, arg) => {
    if (code !== 0) return null;
    try {
      await page.waitForFunction(condition, arg, { timeout: Number(timeout), polling: 200 });
      const s = { stage, ...(await snapshot()) };
      console.log(JSON.stringify(s));
      return s;
    } catch (e) {
      console.log(JSON.stringify({ stage: "timeout waiting for " + stage, why: e.message, ...(await snapshot()) }));
      code = 1;
      return null;
    }
  };
  // The conditions run in the page: their helpers are defined there.
  await page.addInitScript(() => {
    window.seconds_played = () => Number(document.getElementById("video").dataset.played || 0);
    window.text_of = (id) => document.getElementById(id).textContent;
  });
  await page.goto(page_url);
  const playing = await wait("playing from a", () => text_of("answering") === "a" && text_of("active") === "a"
    && !document.getElementById("demo").hidden && document.getElementById("video").currentTime > 1);
  if (playing) await page.click("#toggle-a");
  // B answers the player's segments and the front has switched; 2 s more played since.
  const failed = await wait("b answers", (since) => text_of("answering") === "b" && text_of("active") === "b"
    && text_of("demo-state").startsWith("failing") && seconds_played() > since + 2, playing && playing.played);
  const goingOn = await wait("b plays on", (since) => text_of("answering") === "b" && seconds_played() > since + 2,
    failed && failed.played);
  if (goingOn && process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  if (goingOn) await page.click("#toggle-a");
  await wait("a back", (since) => text_of("answering") === "a" && text_of("active") === "a"
    && text_of("demo-state") === "serving" && seconds_played() > since + 1, goingOn && goingOn.played);
} finally {
  await browser.close();
}
process.exit(code);
