// Opens the front's status page (/_front/) in headless Chromium. Prints one JSON line once the
// page shows <first> as the active origin (and, with ?src=, its player past 1 s), then another
// once it shows <then> active with a switch-over to it — without reloading the page.
// Usage: node front.mjs <page-url> <first> <then> [timeout-ms]; CHROMIUM overrides /usr/bin/chromium.
import { chromium } from "playwright-core";

const [page_url, first, then, timeout = "60000"] = process.argv.slice(2);
const playing = new URL(page_url).searchParams.has("src");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
let code = 0;
try {
  const page = await browser.newPage();
  const snapshot = () => page.evaluate(() => ({
    active: document.getElementById("active").textContent,
    origins: [...document.querySelectorAll("#origins tr")].map((tr) => ({
      name: tr.dataset.origin,
      active: tr.className === "active",
      health: tr.children[3].textContent,
      probes: tr.querySelectorAll(".strip span").length,
      failed: tr.querySelectorAll(".strip .fail").length,
    })),
    switches: [...document.querySelectorAll("#switches li")].filter((li) => li.dataset.to)
      .map((li) => ({ from: li.dataset.from, to: li.dataset.to, text: li.textContent })),
    player: document.getElementById("player-state").textContent,
    currentTime: document.getElementById("video").currentTime,
    error: document.getElementById("error").textContent,
  }));
  const wait = async (stage, condition, arg) => {
    try {
      await page.waitForFunction(condition, arg, { timeout: Number(timeout), polling: 200 });
      console.log(JSON.stringify({ stage, ...(await snapshot()) }));
    } catch (_) {
      console.log(JSON.stringify({ stage: "timeout waiting for " + stage, ...(await snapshot()) }));
      code = 1;
    }
  };
  await page.goto(page_url);
  await wait("first", ([name, playing]) => document.getElementById("active").textContent === name
    && (!playing || document.getElementById("video").currentTime > 1), [first, playing]);
  if (code === 0) {
    await wait("then", (name) => document.getElementById("active").textContent === name
      && document.querySelector(`#switches li[data-to="${name}"]`) !== null, then);
  }
} finally {
  await browser.close();
}
process.exit(code);
