// Opens player.html (served from loopback) in headless Chromium and waits until the page
// reports playback past the target time or an error; prints the page's JSON report.
// Usage: node play.mjs <page-url> [timeout-ms]; CHROMIUM overrides /usr/bin/chromium.
import { chromium } from "playwright-core";

const [page_url, timeout = "60000"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
let report = { state: "timeout", errors: [] };
try {
  const page = await browser.newPage();
  const console_lines = [];
  page.on("console", (m) => console_lines.push(m.text()));
  await page.goto(page_url);
  try {
    await page.waitForFunction(
      () => ["playing", "error"].includes(JSON.parse(document.getElementById("result").textContent).state),
      null,
      { timeout: Number(timeout), polling: 200 },
    );
  } catch (_) { /* reported as the page's last state */ }
  report = JSON.parse(await page.textContent("#result"));
  if (report.state !== "playing") report.console = console_lines.slice(-20);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
