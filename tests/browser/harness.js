// Shared helpers of the browser tests: start the real nicbox binary (demo) on port 0, read its
// `listening` lines, and launch Debian's Chromium headless through playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BIN = process.env.NICBOX_BIN || new URL("../../target/debug/nicbox", import.meta.url).pathname;

/** Starts `nicbox demo` in a new directory; resolves to {http, whois, dir, creds, stop()}. */
export function startDemo() {
  const dir = mkdtempSync(join(tmpdir(), "nicbox-browser-"));
  const data = join(dir, "demo");
  const child = spawn(BIN, ["demo", "--data", data, "--http", "127.0.0.1:0", "--whois", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--epp", "127.0.0.1:0"], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NICBOX_LOG: "nicbox=info", NO_COLOR: "1" },
  });
  return new Promise((resolve, reject) => {
    const found = {};
    let log = "";
    const timer = setTimeout(() => reject(new Error("nicbox did not start:\n" + log)), 120000);
    child.stderr.on("data", (chunk) => {
      const text = chunk.toString().replace(/\x1b\[[0-9;]*m/g, "");
      log += text;
      for (const m of text.matchAll(/listening protocol=(\w+) addr=(\S+)/g)) found[m[1]] = m[2];
      if (found.http && found.whois && !found.done) {
        found.done = true;
        clearTimeout(timer);
        const creds = JSON.parse(readFileSync(join(data, "demo-credentials.json"), "utf8"));
        resolve({
          http: "http://" + found.http,
          whois: found.whois,
          dir: data,
          creds,
          stop: () => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM"); }),
        });
      }
    });
    child.once("exit", (code) => { if (!found.done) reject(new Error(`nicbox exited ${code}:\n${log}`)); });
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

export const SHOTS = new URL("./screenshots/", import.meta.url).pathname;
