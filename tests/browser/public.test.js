// The public availability page in headless Chromium: availability answers, the live counter,
// the language switch, and a phone-sized screen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launch, SHOTS } from "./harness.js";

let server, browser;
before(async () => {
  server = await startDemo();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function stats() {
  const r = await fetch(server.http + "/api/public/stats");
  return r.json();
}

test("a free name, a registered name and a reserved name are told apart", async () => {
  const page = await browser.newPage();
  await page.goto(server.http + "/?lang=pt");
  await page.fill("#name", "um-nome-livre-de-certeza.pt");
  await page.click("#check");
  await page.waitForSelector("#result:not([hidden])");
  assert.equal(await page.getAttribute("#result", "data-available"), "true");
  assert.match(await page.textContent("#result"), /está livre/);
  await page.screenshot({ path: SHOTS + "public-free.png", fullPage: true });

  // A registered demo name.
  const key = server.creds.registrars[0].api_key;
  const list = await (await fetch(server.http + "/api/v1/domains?limit=1", { headers: { authorization: "Bearer " + key } })).json();
  const taken = list.domains[0].unicode_name;
  await page.fill("#name", taken);
  await page.click("#check");
  await page.waitForFunction(() => document.querySelector("#result").getAttribute("data-available") === "false");
  assert.match(await page.textContent("#result"), /já está registado/);
  await page.screenshot({ path: SHOTS + "public-registered.png", fullPage: true });

  await page.fill("#name", "lisboa.pt");
  await page.click("#check");
  await page.waitForFunction(() => /reservado/.test(document.querySelector("#result").textContent));
  await page.fill("#name", "google.com");
  await page.click("#check");
  await page.waitForFunction(() => /não pertence/.test(document.querySelector("#result").textContent));
  await page.close();
});

test("the counter equals the live number of registered domains", async () => {
  const page = await browser.newPage();
  await page.goto(server.http + "/?lang=en");
  const shown = Number((await page.textContent("#count")).replace(/[^0-9]/g, ""));
  const s = await stats();
  assert.equal(shown, s.domains);
  for (const [zone, n] of Object.entries(s.by_zone)) {
    const cell = await page.textContent(`[data-zone="${zone}"]`);
    assert.equal(Number(cell.replace(/[^0-9]/g, "")), n, zone);
  }
  await page.close();
});

test("the language switch turns the page into English and back, keeping the name", async () => {
  const page = await browser.newPage();
  await page.goto(server.http + "/?lang=pt&name=novo-teste.pt");
  assert.equal(await page.getAttribute("html", "lang"), "pt");
  assert.match(await page.textContent("h2"), /Este domínio está livre\?/);
  assert.match(await page.textContent("#result"), /está livre para registo/);
  await page.click("#lang-en");
  await page.waitForURL(/lang=en/);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.match(await page.textContent("h2"), /Is this domain free\?/);
  assert.match(await page.textContent("#result"), /is free to register/);
  assert.equal(await page.inputValue("#name"), "novo-teste.pt");
  await page.screenshot({ path: SHOTS + "public-english.png", fullPage: true });
  await page.click("#lang-pt");
  await page.waitForURL(/lang=pt/);
  assert.match(await page.textContent("h2"), /Este domínio/);
  await page.close();
});

test("usable on a phone: no horizontal scrolling, the form fits, no external requests", async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const foreign = [];
  page.on("request", (r) => { if (!r.url().startsWith(server.http)) foreign.push(r.url()); });
  await page.goto(server.http + "/");
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `page wider than the screen: ${scroll} > ${client}`);
  const box = await page.locator("#check").boundingBox();
  assert.ok(box && box.x + box.width <= 360, "the button fits on the screen");
  await page.fill("#name", "telemovel.pt");
  await page.tap("#check");
  await page.waitForSelector("#result:not([hidden])");
  assert.deepEqual(foreign, [], "no external assets");
  await page.screenshot({ path: SHOTS + "public-phone.png", fullPage: true });
  await context.close();
});
