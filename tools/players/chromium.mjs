// The headless Chromium the page scripts drive: /usr/bin/chromium or $CHROMIUM, media that
// plays without a click.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
  });
}
