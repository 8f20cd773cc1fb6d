// The admin web UI in headless Chromium (CONTRACT.md section 5): sign-in and sessions, the
// dashboard, search by Unicode name, registry lock, review decisions, WHOIS suspensions, CSRF,
// the support role, the language switch, page speed and the lab clock. One demo serves all tests;
// they run in order, and the ones that spend the WHOIS budget or move the clock come last.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
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

// ---- helpers ----

const adminUser = () => ({ name: server.creds.admin.username, password: server.creds.admin.password });

/** The registrar API as registrar `i` of the demo: {status, body}. */
async function api(i, method, path, body) {
  const key = server.creds.registrars[i].api_key;
  const headers = { authorization: "Bearer " + key };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(server.http + "/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Every domain of registrar `i`, paging through GET /api/v1/domains. */
async function allDomains(i) {
  const out = [];
  let after = null;
  for (;;) {
    const r = await api(i, "GET", "/domains?limit=500" + (after ? "&after=" + encodeURIComponent(after) : ""));
    assert.equal(r.status, 200);
    out.push(...r.body.domains);
    if (!r.body.next) return out;
    after = r.body.next;
  }
}

/** The admin JSON API with HTTP Basic auth. */
async function adminApi(method, path, user = adminUser()) {
  const r = await fetch(server.http + "/admin/api" + path, {
    method,
    headers: { authorization: "Basic " + Buffer.from(`${user.name}:${user.password}`).toString("base64") },
  });
  return { status: r.status, body: await r.json() };
}

/** A new browser context (Portuguese unless told) signed in as `user`; resolves to {context, page}. */
async function signIn(user = adminUser(), locale = "pt-PT") {
  const context = await browser.newContext({ locale });
  const page = await context.newPage();
  await page.goto(server.http + "/admin/login");
  await page.fill("#username", user.name);
  await page.fill("#password", user.password);
  await Promise.all([page.waitForURL(server.http + "/admin/"), page.click("#signin")]);
  return { context, page };
}

/** Clicks a submit button and waits for the page it leads to. */
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
}

/** POSTs a form from inside the page (same origin: the session cookie goes along); the final status. */
async function postForm(page, path, fields) {
  return page.evaluate(async ({ path, fields }) => {
    const r = await fetch(path, { method: "POST", body: new URLSearchParams(fields) });
    return { status: r.status, url: r.url, text: await r.text() };
  }, { path, fields });
}

/** The CSRF token of the page's session, from the sign-out form. */
const csrfOf = (page) => page.inputValue('form[action="/admin/logout"] input[name="csrf"]');

/** One WHOIS query over TCP; the whole answer. */
function whois(query) {
  const [host, port] = server.whois.split(/:(?=\d+$)/);
  return new Promise((resolve, reject) => {
    let answer = "";
    const s = net.createConnection({ host, port: Number(port) }, () => s.write(query + "\r\n"));
    s.setEncoding("utf8");
    s.setTimeout(10000, () => s.destroy(new Error("whois timed out")));
    s.on("data", (d) => { answer += d; });
    s.on("error", reject);
    s.on("close", () => resolve(answer));
  });
}

/** Queries WHOIS as fast as it answers until this address is suspended; the suspending answer. */
async function getSuspended() {
  for (let i = 0; i < 200; i++) {
    const a = await whois("exemplo.pt");
    if (/suspended/.test(a)) {
      assert.match(a, /^% Rate limit exceeded/);
      return a;
    }
  }
  assert.fail("200 quick WHOIS queries did not get 127.0.0.1 suspended");
}

/** A registrar-0 domain that is plainly active (status ok), not IDN, not used by another test. */
let activeNames;
async function activeDomain() {
  if (!activeNames) {
    activeNames = (await allDomains(0))
      .filter((d) => !d.name.includes("xn--") && d.status.length === 1 && d.status[0] === "ok")
      .map((d) => d.name);
  }
  const name = activeNames.shift();
  assert.ok(name, "an active demo domain of registrar 0");
  return name;
}

const statusesOn = async (page) => (await page.locator("#statuses .status").allTextContents()).map((s) => s.trim());

// ---- tests ----

test("sign in, a wrong password, the session cookie, sign out", async () => {
  const context = await browser.newContext({ locale: "pt-PT" });
  const page = await context.newPage();
  await page.goto(server.http + "/admin/");
  assert.equal(new URL(page.url()).pathname, "/admin/login", "an anonymous visit is sent to the sign-in page");
  await page.screenshot({ path: SHOTS + "admin-login.png", fullPage: true });

  // A wrong password: 401, #error, still the sign-in page, no session.
  await page.fill("#username", adminUser().name);
  await page.fill("#password", adminUser().password + "-wrong");
  const [bad] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/admin/login"),
    page.click("#signin"),
  ]);
  await page.waitForLoadState("load");
  assert.equal(bad.status(), 401);
  assert.equal(new URL(page.url()).pathname, "/admin/login");
  assert.ok(await page.isVisible("#error"));
  assert.match(await page.textContent("#error"), /errad/);
  assert.equal((await context.cookies()).find((c) => c.name === "nicbox_admin"), undefined, "no session after a wrong password");
  await page.screenshot({ path: SHOTS + "admin-login-error.png", fullPage: true });

  // The right one: the dashboard.
  await page.fill("#username", adminUser().name);
  await page.fill("#password", adminUser().password);
  await Promise.all([page.waitForURL(server.http + "/admin/"), page.click("#signin")]);
  assert.ok(await page.isVisible("#registered"), "the dashboard shows the registered count");
  assert.match(await page.textContent("h1"), /Painel/);
  const cookie = (await context.cookies()).find((c) => c.name === "nicbox_admin");
  assert.ok(cookie, "the session cookie is set");
  assert.equal(cookie.httpOnly, true, "HttpOnly");
  assert.equal(cookie.sameSite, "Strict", "SameSite=Strict");
  assert.equal(cookie.path, "/admin");
  assert.equal(await page.evaluate(() => document.cookie.includes("nicbox_admin")), false, "invisible to scripts");

  // Sign out: back to the sign-in page; the old session no longer opens /admin/.
  await submit(page, "#logout");
  assert.equal(new URL(page.url()).pathname, "/admin/login");
  const replay = await browser.newContext();
  await replay.addCookies([cookie]);
  const again = await replay.newPage();
  await again.goto(server.http + "/admin/");
  assert.equal(new URL(again.url()).pathname, "/admin/login", "the closed session is refused");
  const raw = await fetch(server.http + "/admin/", { headers: { cookie: `nicbox_admin=${cookie.value}` }, redirect: "manual" });
  assert.ok(raw.status >= 300 && raw.status < 400, `redirect expected, got ${raw.status}`);
  assert.match(raw.headers.get("location"), /\/admin\/login$/);
  await replay.close();
  await context.close();
});

test("the dashboard count equals the public count of registered domains", async () => {
  const { context, page } = await signIn();
  const shown = Number((await page.textContent("#registered")).replace(/[^0-9]/g, ""));
  const stats = await (await fetch(server.http + "/api/public/stats")).json();
  assert.ok(stats.domains > 1000, "the demo has its sample domains");
  assert.equal(shown, stats.domains);
  await page.screenshot({ path: SHOTS + "admin-dashboard.png", fullPage: true });
  await context.close();
});

test("the dashboard shows each zone's publication, and Publish now tells how it went", async () => {
  const { context, page } = await signIn();
  assert.ok(await page.isVisible("#zones"), "the Zones panel");
  const pt = page.locator('#zones tr.zone[data-zone="pt"]');
  assert.equal(await pt.count(), 1, "a row for the zone pt");
  // The demo publishes at start; if this one has not yet, the button does.
  if ((await pt.locator(".serial").count()) === 0) await submit(page, "#publish-now");
  const serial = Number((await pt.locator(".serial").textContent()).trim());
  assert.ok(Number.isInteger(serial) && serial > 0, `a serial: ${serial}`);
  assert.ok(Number((await pt.locator(".delegations").textContent()).trim()) > 100, "the demo's delegations");

  await submit(page, "#publish-now");
  assert.equal(new URL(page.url()).pathname, "/admin/", "back on the dashboard");
  assert.ok(await page.isVisible("#flash"));
  const flash = await page.textContent("#flash");
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), flash);
  assert.match(flash, /^pt: .*(publicada|sem alterações).* série \d+, \d+ delegações/m, flash);
  const after = Number((await pt.locator(".serial").textContent()).trim());
  assert.ok(after >= serial, `the serial does not go back: ${serial} → ${after}`);
  await page.screenshot({ path: SHOTS + "admin-dashboard-zones.png", fullPage: true });

  // Publishing anyway needs a reason; without one nothing is forced.
  const csrf = await csrfOf(page);
  const noReason = await postForm(page, "/admin/zones/publish", { csrf, force: "1", reason: "  " });
  assert.equal(noReason.status, 200);
  assert.ok(new URL(noReason.url).search.includes("err="), noReason.url);
  // And without the session's token the server refuses the button's POST.
  assert.equal((await postForm(page, "/admin/zones/publish", {})).status, 403);

  // The zones page lists the attempts, newest first.
  await Promise.all([page.waitForURL(server.http + "/admin/zones"), page.click("#nav-zones")]);
  const runs = page.locator('table.zone-runs[data-zone="pt"] tr.run');
  assert.ok((await runs.count()) >= 1, "at least one publication of pt is listed");
  assert.match(await runs.first().textContent(), /published|forced/);
  assert.ok(await page.isVisible("#publish-now"), "the button is on the zones page too");
  await submit(page, "#publish-now");
  assert.equal(new URL(page.url()).pathname, "/admin/zones", "back on the zones page");
  assert.ok(await page.isVisible("#flash"));
  await page.screenshot({ path: SHOTS + "admin-zones.png", fullPage: true });
  await page.goto(server.http + "/admin/audit");
  assert.match(await page.textContent("#audit"), /published zones/);
  await context.close();
});

test("a domain is found by its Unicode name and shows undisclosed data and history", async () => {
  let idn, key = 0;
  for (const i of [0, 1]) {
    idn = (await allDomains(i)).find((d) => d.name.includes("xn--") && d.unicode_name !== d.name);
    if (idn) { key = i; break; }
  }
  assert.ok(idn, "the demo has IDN domains");
  const registrant = await api(key, "GET", "/contacts/" + encodeURIComponent(idn.registrant));
  assert.equal(registrant.status, 200);
  assert.ok(registrant.body.email);

  const { context, page } = await signIn();
  await page.click("#nav-domains");
  await page.waitForURL(/\/admin\/domains/);
  await page.fill("#q", idn.unicode_name);
  await submit(page, "#search-button");
  const link = page.locator(`#results a[href="/admin/domains/${idn.name}"]`);
  assert.equal(await link.count(), 1, `the results link to ${idn.name}`);
  assert.equal((await link.textContent()).trim(), idn.unicode_name);
  await page.screenshot({ path: SHOTS + "admin-domains-search.png", fullPage: true });

  await Promise.all([page.waitForURL(server.http + "/admin/domains/" + idn.name), link.click()]);
  const heading = await page.textContent("#domain-name");
  assert.ok(heading.includes(idn.unicode_name) && heading.includes(idn.name), heading);
  const body = await page.textContent("main");
  assert.ok(body.includes(registrant.body.email), "the registrant's email is shown to the registry");
  assert.ok(body.includes(idn.registrant), "the registrant's handle");
  assert.ok((await page.locator("#history tr").count()) >= 2, "the history table has at least one entry");
  assert.match(await page.textContent("#history"), /create/i);
  await page.screenshot({ path: SHOTS + "admin-domain.png", fullPage: true });
  await context.close();
});

test("registry lock stops the registrar's changes until unlocked", async () => {
  const name = await activeDomain();
  const patch = () => api(0, "PATCH", "/domains/" + name, { auto_renew: false });
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/domains/" + name);
  await submit(page, "#lock");
  assert.ok(await page.isVisible("#flash"));
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  const st = await statusesOn(page);
  for (const s of ["serverUpdateProhibited", "serverDeleteProhibited", "serverTransferProhibited"]) assert.ok(st.includes(s), `${s} in ${st}`);
  assert.ok(await page.isVisible("#unlock"));
  await page.screenshot({ path: SHOTS + "admin-domain-locked.png", fullPage: true });

  const refused = await patch();
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, "status_prohibits");

  await submit(page, "#unlock");
  assert.ok(await page.isVisible("#lock"));
  assert.ok(!(await statusesOn(page)).includes("serverUpdateProhibited"));
  const ok = await patch();
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.auto_renew, false);
  assert.match(await page.textContent("#history"), /lock|status/i);
  await context.close();
});

test("a registration in review is accepted from the queue", async () => {
  const contact = await api(0, "POST", "/contacts", {
    kind: "organization", name: "Exemplo, Lda.", organization: "Exemplo, Lda.", street: ["Rua Augusta 1"],
    city: "Lisboa", postal_code: "1100-048", country_code: "PT", email: "dns@exemplo.pt", phone: "+351.213456789",
    fiscal_id: "501964843",
  });
  assert.equal(contact.status, 201, JSON.stringify(contact.body));
  const h = contact.body.handle;
  const name = `revisao-browser-${Date.now()}.gov.pt`;
  const created = await api(0, "POST", "/domains", {
    name, period_years: 1, registrant: h, admin: h, tech: h,
    nameservers: [{ name: "ns1.example.net" }, { name: "ns2.example.net" }],
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  assert.deepEqual(created.body.status, ["pendingCreate"]);

  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/queues");
  const link = page.locator(`#queue-creates a[href="/admin/domains/${name}"]`);
  assert.equal(await link.count(), 1, "the registration is in the queue");
  await page.screenshot({ path: SHOTS + "admin-queues.png", fullPage: true });
  await Promise.all([page.waitForURL(server.http + "/admin/domains/" + name), link.click()]);
  assert.ok((await statusesOn(page)).includes("pendingCreate"));
  await page.fill('form:has(#accept) input[name="note"]', "documento verificado");
  await submit(page, "#accept");
  assert.ok(await page.isVisible("#flash"));
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  assert.equal(await page.locator("#accept").count(), 0);
  assert.ok(!(await statusesOn(page)).includes("pendingCreate"));

  const now = await api(0, "GET", "/domains/" + name);
  assert.equal(now.status, 200);
  assert.ok(!now.body.status.includes("pendingCreate"), `status after acceptance: ${now.body.status}`);

  // The registrar learns of it through its poll queue (oldest first: acknowledge until it shows).
  let found;
  for (let round = 0; round < 20 && !found; round++) {
    const poll = await api(0, "GET", "/poll");
    assert.equal(poll.status, 200);
    found = poll.body.messages.find((m) => m.kind === "create.accepted" && m.domain === name);
    if (!found) {
      assert.ok(poll.body.messages.length > 0, "the create.accepted message is in the poll queue");
      for (const m of poll.body.messages) assert.equal((await api(0, "DELETE", "/poll/" + m.id)).status, 204);
    }
  }
  assert.ok(found, "a create.accepted poll message");

  await page.goto(server.http + "/admin/queues");
  assert.equal(await page.locator(`a[href="/admin/domains/${name}"]`).count(), 0, "the queue no longer lists it");
  await context.close();
});

test("a form posted without its CSRF token, or with a wrong one, is refused", async () => {
  const name = await activeDomain();
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/domains/" + name);
  const path = `/admin/domains/${name}/action`;

  const none = await postForm(page, path, { action: "lock" });
  assert.equal(none.status, 403);
  const wrong = await postForm(page, path, { action: "lock", csrf: "0".repeat(43) });
  assert.equal(wrong.status, 403);
  const empty = await postForm(page, path, { action: "lock", csrf: "" });
  assert.equal(empty.status, 403);

  await page.reload();
  const st = await statusesOn(page);
  assert.ok(!st.includes("serverUpdateProhibited"), `not locked: ${st}`);
  const patch = await api(0, "PATCH", "/domains/" + name, { auto_renew: true });
  assert.equal(patch.status, 200, "the registrar may still change it");

  // Other forms too: the clock, the users.
  assert.equal((await postForm(page, "/admin/clock", { days: "1" })).status, 403);
  assert.equal((await postForm(page, "/admin/users", { action: "create", name: "intruso", role: "admin" })).status, 403);
  assert.equal((await postForm(page, "/admin/logout", {})).status, 403);

  // The same request with the page's token goes through (so the refusals were about the token).
  const good = await postForm(page, path, { action: "lock", csrf: await csrfOf(page) });
  assert.equal(good.status, 200);
  assert.ok(new URL(good.url).search.includes("ok="), good.url);
  await page.reload();
  assert.ok((await statusesOn(page)).includes("serverUpdateProhibited"));
  await submit(page, "#unlock");
  assert.ok(!(await statusesOn(page)).includes("serverUpdateProhibited"));
  await context.close();
});

test("a disclosure request is recorded, granted and shows the record", async () => {
  const name = await activeDomain();
  const d = await api(0, "GET", "/domains/" + name);
  const registrant = await api(0, "GET", "/contacts/" + d.body.registrant);
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/directory");
  const form = 'form:has(#record-request)';
  await page.fill(`${form} input[name="domain"]`, name);
  await page.fill(`${form} input[name="requester"]`, "Polícia Judiciária");
  await page.fill(`${form} input[name="legal_basis"]`, "art. 6.º, n.º 1, al. c) RGPD");
  await page.fill(`${form} input[name="case_reference"]`, "NUIPC 123/26");
  await submit(page, "#record-request");
  assert.match(new URL(page.url()).pathname, /^\/admin\/directory\/disclosures\/\d+$/);
  assert.ok(await page.isVisible("#grant"), "pending: the decision buttons show");
  assert.equal(await page.locator("#disclosed").count(), 0, "nothing disclosed before the decision");
  await submit(page, "#grant");
  assert.ok(await page.isVisible("#flash"));
  assert.equal(await page.locator("#grant").count(), 0);
  const rec = await page.textContent("#disclosed");
  assert.ok(rec.includes(registrant.body.email), "the disclosed record holds the registrant's email");
  await page.screenshot({ path: SHOTS + "admin-disclosure.png", fullPage: true });
  await page.goto(server.http + "/admin/audit");
  assert.match(await page.textContent("#audit"), /viewed disclosed record/);
  // The record's status line tells the domain's status as everywhere else (here: ok).
  assert.match(rec, /^Domain: /m);
  const statusLine = rec.split("\n").find((l) => l.startsWith("Status:"));
  assert.equal(statusLine?.trim(), "Status: " + d.body.status.join(", "), "the disclosed record's status line");
  await context.close();
});

test("the language switch turns the pages into English and back", async () => {
  const { context, page } = await signIn();
  assert.equal(await page.getAttribute("html", "lang"), "pt");
  assert.equal((await page.textContent("h1")).trim(), "Painel");
  await Promise.all([page.waitForURL(server.http + "/admin/"), page.click("#lang-en")]);
  await page.waitForFunction(() => document.documentElement.lang === "en");
  assert.equal((await page.textContent("h1")).trim(), "Dashboard");
  assert.match(await page.textContent("#logout"), /Sign out/);
  // The choice sticks on other pages.
  await page.click("#nav-domains");
  await page.waitForURL(/\/admin\/domains/);
  assert.equal((await page.textContent("h1")).trim(), "Domains");
  await page.screenshot({ path: SHOTS + "admin-english.png", fullPage: true });
  // Back to Portuguese, from the page we are on.
  await page.click("#lang-pt");
  await page.waitForFunction(() => document.documentElement.lang === "pt");
  assert.equal(new URL(page.url()).pathname, "/admin/domains", "the switch returns to the same page");
  assert.equal((await page.textContent("h1")).trim(), "Domínios");
  await page.goto(server.http + "/admin/");
  assert.equal((await page.textContent("h1")).trim(), "Painel");
  await context.close();
});

test("every admin page answers quickly", async () => {
  const { context, page } = await signIn();
  const pages = [
    ["/admin/", null],
    ["/admin/domains", "admin-domains.png"],
    ["/admin/registrars", "admin-registrars.png"],
    ["/admin/queues", null],
    ["/admin/zones", null],
    ["/admin/directory", null],
    ["/admin/audit", "admin-audit.png"],
    ["/admin/clock", null],
  ];
  const times = {};
  for (const [path, shot] of pages) {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const resp = await page.goto(server.http + path);
      assert.equal(resp.status(), 200, path);
      const ms = await page.evaluate(() => {
        const n = performance.getEntriesByType("navigation")[0];
        return n.responseStart - n.requestStart;
      });
      best = Math.min(best, ms);
      if (i === 0) times[path + " (first)"] = Math.round(ms);
    }
    times[path] = Math.round(best);
    if (shot) await page.screenshot({ path: SHOTS + shot, fullPage: true });
  }
  console.log("server time per admin page, ms:", times);
  for (const [path] of pages) assert.ok(times[path] < 100, `${path} took ${times[path]} ms`);

  await page.goto(server.http + "/admin/registrars/" + server.creds.registrars[0].id);
  assert.ok(await page.isVisible("#balance"));
  await page.screenshot({ path: SHOTS + "admin-registrar.png", fullPage: true });
  await context.close();
});

test("a domain page shows its nameserver check, and Check again runs one", async () => {
  const name = await activeDomain();
  const d = await api(0, "GET", "/domains/" + name);
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/domains/" + name);
  assert.ok(await page.isVisible("#ns-check"), "the Nameserver check section");
  assert.equal((await page.textContent("#ns-mode")).trim(), "warn", "the demo's mode");
  assert.ok(await page.isVisible("#ns-due"));
  const before = (await page.textContent("#ns-checked-at")).trim();
  await submit(page, "#ns-check-now");
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  assert.equal(await page.locator("#ns-check-now").count(), 1);
  // The checker takes the checks due in turn, a batch every few seconds: after the demo's own
  // first checks (some 2,000 domains, queued at start), this one's result shows, a row per query.
  const queued = Date.now();
  let checked = false;
  for (let i = 0; i < 240 && !checked; i++) {
    await page.goto(server.http + "/admin/domains/" + name);
    const now = (await page.textContent("#ns-checked-at")).trim();
    checked = now !== before && Number.isFinite(Date.parse(now.split(/\s/)[0])) && (await page.locator("#ns-servers tr.ns-server").count()) > 0;
    if (!checked) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(checked, `a check of ${name} shows within ${Math.round((Date.now() - queued) / 1000)} s`);
  const hosts = await page.$$eval("#ns-servers tr.ns-server td:first-child", (c) => c.map((x) => x.textContent.trim()));
  for (const ns of d.body.nameservers) assert.ok(hosts.includes(ns.name), `${ns.name} in ${hosts}`);
  assert.match(await page.getAttribute("#ns-result", "data-passed"), /^(true|false)$/);
  await page.screenshot({ path: SHOTS + "admin-domain-ns-check.png", fullPage: true });
  await context.close();
});

test("a WHOIS suspension is listed and lifted from the directory page", async () => {
  const answer = await getSuspended();
  assert.match(answer, /suspended until/);
  const listed = await adminApi("GET", "/whois/suspensions");
  assert.equal(listed.status, 200);
  assert.ok(listed.body.suspensions.some((s) => s.origin === "127.0.0.1"), JSON.stringify(listed.body));

  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/directory");
  const row = page.locator("#suspensions tr", { hasText: "127.0.0.1" });
  assert.equal(await row.count(), 1, "the suspensions table lists 127.0.0.1");
  assert.equal(await page.locator("#no-suspensions").count(), 0);
  await page.goto(server.http + "/admin/");
  assert.equal((await page.textContent('.card a[href="/admin/directory"]')).trim(), "1", "the dashboard counts one suspended origin");
  assert.ok(Number(await page.textContent(".card:nth-child(7) .n")) >= 40, "the dashboard counts the WHOIS queries");
  await page.goto(server.http + "/admin/directory");
  assert.ok((await page.locator("#query-log tr").count()) > 1, "the query log shows the queries");
  await page.screenshot({ path: SHOTS + "admin-directory.png", fullPage: true });
  await submit(page, "#suspensions tr:has-text('127.0.0.1') .lift");
  assert.ok(await page.isVisible("#flash"));
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  assert.equal(await page.locator("#suspensions").count(), 0, "the table is gone");
  assert.ok(await page.isVisible("#no-suspensions"));
  await page.screenshot({ path: SHOTS + "admin-directory-lifted.png", fullPage: true });
  const after = await adminApi("GET", "/whois/suspensions");
  assert.deepEqual(after.body.suspensions, []);
  await page.goto(server.http + "/admin/audit");
  assert.match(await page.textContent("#audit"), /lifted WHOIS suspension/);
  await context.close();
});

test("the support role reads but cannot change, and may lift a suspension", async () => {
  // An admin creates the support user; its password shows once.
  const admin = await signIn();
  await admin.page.goto(server.http + "/admin/users");
  const supportName = "apoio" + Date.now().toString(36);
  await admin.page.fill('form:has(#create-user) input[name="name"]', supportName);
  await admin.page.selectOption('form:has(#create-user) select[name="role"]', "support");
  await submit(admin.page, "#create-user");
  const password = (await admin.page.textContent("#new-password")).trim();
  assert.ok(password.length >= 12, "a generated password");
  assert.match(await admin.page.textContent("main"), new RegExp(`${supportName}\\s*support`));
  await admin.page.screenshot({ path: SHOTS + "admin-users.png", fullPage: true });
  await submit(admin.page, "#logout");
  await admin.context.close();

  const support = { name: supportName, password };
  const { context, page } = await signIn(support);
  assert.match(await page.textContent("header"), /\(support\)/);
  assert.equal(await page.locator('nav a[href="/admin/users"]').count(), 0, "no Users link");
  const users = await page.goto(server.http + "/admin/users");
  assert.equal(users.status(), 403);

  // Support sees the zones but has no button, and the server refuses its POST.
  await page.goto(server.http + "/admin/");
  assert.ok(await page.isVisible("#zones"), "support sees the Zones panel");
  assert.equal(await page.locator("#publish-now").count(), 0, "no Publish now for support");
  const supportCsrf = await csrfOf(page);
  assert.equal((await postForm(page, "/admin/zones/publish", { csrf: supportCsrf })).status, 403);
  assert.equal((await postForm(page, "/admin/zones/publish", { csrf: supportCsrf, force: "1", reason: "x" })).status, 403);

  const name = await activeDomain();
  await page.goto(server.http + "/admin/domains/" + name);
  assert.ok(await page.isVisible("#domain-name"), "support reads the domain");
  assert.equal(await page.locator("#actions").count(), 0, "no actions for support");
  assert.ok(await page.isVisible("#ns-check"), "support reads the nameserver check");
  assert.equal(await page.locator("#ns-check-now").count(), 0, "no Check again for support");
  const csrf = await csrfOf(page);
  assert.ok(csrf);
  assert.equal((await postForm(page, `/admin/domains/${name}/action`, { csrf, action: "lock" })).status, 403);
  assert.equal((await postForm(page, `/admin/domains/${name}/action`, { csrf, action: "hold" })).status, 403);
  assert.equal((await postForm(page, `/admin/domains/${name}/action`, { csrf, action: "ns_check" })).status, 403);
  await page.reload();
  const st = await statusesOn(page);
  assert.ok(!st.includes("serverUpdateProhibited") && !st.includes("serverHold"), `unchanged: ${st}`);

  const regId = server.creds.registrars[1].id;
  const before = (await api(1, "GET", "/account")).body.balance_cents;
  const credit = await postForm(page, `/admin/registrars/${regId}/action`, { csrf, action: "credit", amount_cents: "100000", reason: "teste" });
  assert.equal(credit.status, 403);
  assert.equal((await api(1, "GET", "/account")).body.balance_cents, before, "the balance is unchanged");
  await page.goto(server.http + "/admin/registrars/" + regId);
  assert.equal(await page.locator("#credit").count(), 0, "no top-up form for support");
  assert.equal((await postForm(page, "/admin/users", { csrf, action: "create", name: "eu-admin", role: "admin" })).status, 403);
  assert.equal((await postForm(page, "/admin/registrars", { csrf, id: "pirata", name: "Pirata" })).status, 403);
  assert.equal((await postForm(page, "/admin/clock", { csrf, days: "1" })).status, 403);
  await page.goto(server.http + "/admin/clock");
  assert.equal(await page.locator("#advance-1").count(), 0);

  // But support may lift a WHOIS suspension.
  await getSuspended();
  await page.goto(server.http + "/admin/directory");
  assert.equal(await page.locator("#suspensions tr", { hasText: "127.0.0.1" }).count(), 1);
  await submit(page, "#suspensions tr:has-text('127.0.0.1') .lift");
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  assert.ok(await page.isVisible("#no-suspensions"));
  assert.deepEqual((await adminApi("GET", "/whois/suspensions", support)).body.suspensions, []);
  await page.screenshot({ path: SHOTS + "admin-support.png", fullPage: true });
  await context.close();
});

test("the query log is shown by origin and time window", async () => {
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/directory?origin=127.0.0.1&hours=2");
  const origins = await page.$$eval("#query-log tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
  assert.ok(origins.length > 0, "WHOIS queries of this run are in the log");
  assert.ok(origins.every((o) => o === "127.0.0.1"), `only the asked origin: ${[...new Set(origins)]}`);
  await page.goto(server.http + "/admin/directory?origin=192.0.2.99&hours=2");
  assert.equal((await page.$$("#query-log tr td")).length, 0, "another origin has no queries");
  await page.screenshot({ path: SHOTS + "admin-query-log.png", fullPage: true });
  await context.close();
});

test("the lab clock panel moves registry time forward by a day, and the operator stays signed in", async () => {
  const { context, page } = await signIn();
  await page.goto(server.http + "/admin/clock");
  const t0 = Date.parse(await page.textContent("#registry-time"));
  assert.ok(Number.isFinite(t0));
  const api0 = await adminApi("GET", "/clock");
  assert.equal(api0.body.kind, "lab");
  await page.screenshot({ path: SHOTS + "admin-clock.png", fullPage: true });

  await submit(page, "#advance-1");
  await page.screenshot({ path: SHOTS + "admin-clock-advanced.png", fullPage: true });
  const api1 = await adminApi("GET", "/clock");
  const movedApi = (Date.parse(api1.body.now) - Date.parse(api0.body.now)) / 1000;
  assert.ok(movedApi >= 86_400 && movedApi < 86_400 + 300, `registry time moved ${movedApi} s`);
  assert.ok(Math.abs(api1.body.offset_days - api0.body.offset_days - 1) < 0.01, JSON.stringify([api0.body, api1.body]));

  // The operator who pressed the button is still signed in and sees the panel with the new time.
  assert.equal(new URL(page.url()).pathname, "/admin/clock",
    "still on the clock panel after moving the clock (the admin session must not expire by lab time)");
  assert.ok(!(await page.getAttribute("#flash", "class")).includes("error"), await page.textContent("#flash"));
  const t1 = Date.parse(await page.textContent("#registry-time"));
  const moved = (t1 - t0) / 1000;
  assert.ok(moved >= 86_400 - 5 && moved < 86_400 + 300, `moved ${moved} s`);
  await context.close();
});

test("a sign-in form opened before the lab clock moves still signs in", async () => {
  const context = await browser.newContext({ locale: "pt-PT" });
  const login = await context.newPage();
  await login.goto(server.http + "/admin/login");
  const r = await fetch(server.http + "/admin/api/clock/advance", {
    method: "POST",
    headers: {
      authorization: "Basic " + Buffer.from(`${adminUser().name}:${adminUser().password}`).toString("base64"),
      "content-type": "application/json",
    },
    body: JSON.stringify({ days: 1 }),
  });
  assert.equal(r.status, 200);
  await login.fill("#username", adminUser().name);
  await login.fill("#password", adminUser().password);
  const [resp] = await Promise.all([
    login.waitForResponse((x) => x.request().method() === "POST" && new URL(x.url()).pathname === "/admin/login"),
    login.click("#signin"),
  ]);
  await login.waitForLoadState("load");
  assert.equal(new URL(login.url()).pathname, "/admin/",
    `refused with ${resp.status()}: ${await login.locator("#error").textContent().catch(() => "")}`);
  await context.close();
});
