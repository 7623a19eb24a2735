/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard in a real browser (Debian chromium driven by playwright-core): send an
 * event from the UI, watch its run appear live and complete, open its timeline, rerun it,
 * cancel a sleeping run, filter the list. Screenshots of each page go to docs/screenshots/.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type Browser, chromium, type Page } from "playwright-core";
import { Stepwise } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExampleApp } from "../../examples/app.ts";
import { tempDir } from "../helpers.ts";
import { buildDashboard } from "./build-dashboard.ts";

const chromiumPath = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../../", import.meta.url));
const shots = join(root, "docs/screenshots");
let server: RunningServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does this`);
  // from the current source (a build older than any source file is redone; see build-dashboard.ts)
  await buildDashboard();
  const { client, functions } = createExampleApp({ logger: silentLogger });
  const extra = new Stepwise({ id: "ui", logger: silentLogger });
  const hello = extra.createFunction({ id: "hello" }, { event: "app/hello" }, async ({ event, step }) => {
    const greeting = await step.run("greet", () => `Hello, ${event.data.name}!`);
    await step.sleep("pause", "300ms");
    return step.run("shout", () => greeting.toUpperCase());
  });
  const sleeper = extra.createFunction({ id: "sleeper" }, { event: "app/sleep" }, async ({ step }) => step.sleep("nap", "1d"));
  server = await runServer({
    mode: "dev",
    port: 0,
    db: join(tempDir(), "ui.db"),
    logRuns: false,
    logger: silentLogger,
    retryDelayScale: 0.01,
    inProcess: { client, functions: [...Object.values(functions), hello, sleeper] },
  });
  extra.bindSender((events) => server.engine.send(events));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  mkdirSync(shots, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("dashboard in a browser", () => {
  it("shows an empty state that says what to do next", async () => {
    await page.goto(`${server.url}/#/runs`);
    await page.getByText("No runs yet").waitFor();
    expect(await page.locator(".empty pre").innerText()).toContain("client.send");
    await page.screenshot({ path: join(shots, "runs-empty.png") });
  });

  it("sends an event from the UI (validated first) and follows its run live to completion", async () => {
    await page.goto(`${server.url}/#/events`);
    await page.getByRole("button", { name: "Send event" }).click();
    const editor = page.getByTestId("event-json");
    await editor.fill('{"data": []}');
    expect(await page.getByRole("button", { name: "Send", exact: true }).isDisabled()).toBe(true);
    await page.getByText('event: "name" is required').waitFor();
    await editor.fill('{"name": "app/hello", "data": {"name": "Ada"}}');
    await page.getByRole("button", { name: "Send", exact: true }).click();
    // the event page lists the run it started; open it
    const runLink = page.getByTestId("event-runs").locator("a").first();
    await runLink.waitFor();
    await runLink.click();
    await page.locator(".badge-completed").first().waitFor({ timeout: 10_000 });
    await page.getByTestId("timeline").waitFor();
    expect(await page.locator("[data-step]").evaluateAll((els) => els.map((e) => e.getAttribute("data-step")))).toEqual(["greet", "pause", "shout"]);
    await page.locator('[data-step="pause"]').click();
    expect(await page.getByTestId("step-panel").innerText()).toContain('"duration": "300ms"');
    await page.locator('[data-step="shout"]').click();
    expect(await page.getByTestId("step-panel").innerText()).toContain('"HELLO, ADA!"');
    await page.screenshot({ path: join(shots, "run-detail.png") });
  });

  it("reruns a run", async () => {
    const before = await page.getByTestId("run-id").innerText();
    await page.getByRole("button", { name: "Rerun", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector("[data-testid=run-id]")?.textContent !== id, before);
    await page.locator(".badge-completed").first().waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("run-id").innerText()).not.toBe(before);
  });

  it("shows new runs without reload and filters the list", async () => {
    await page.goto(`${server.url}/#/runs`);
    await page.getByTestId("runs").waitFor();
    const rows = () => page.locator("[data-testid=runs] tbody tr").count();
    const count = await rows();
    await server.engine.send({ name: "shop/order.placed", data: { orderId: "77", total: 3 } });
    await page.waitForFunction((n) => document.querySelectorAll("[data-testid=runs] tbody tr").length > n, count);
    await server.engine.send({ name: "billing/charge.requested", data: { customer: "x@example.com", card: "declined" } });
    await page.locator('tr[data-status="Failed"]').first().waitFor({ timeout: 10_000 });
    await page.getByLabel("status").selectOption("Failed");
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=runs] tbody tr")].every((tr) => tr.getAttribute("data-status") === "Failed"));
    expect(await rows()).toBeGreaterThan(0);
    await page.getByLabel("status").selectOption("");
    await page.getByLabel("function").selectOption("example-app-process-order");
    await page.waitForFunction(() =>
      [...document.querySelectorAll("[data-testid=runs] tbody tr td:nth-child(2)")].every((td) => td.textContent === "example-app-process-order"),
    );
    await page.getByLabel("function").selectOption("");
    await page.screenshot({ path: join(shots, "runs.png") });
  });

  it("cancels a sleeping run", async () => {
    const { ids } = await server.engine.send({ name: "app/sleep" });
    const [run] = await server.engine.listRuns({ eventId: ids[0] as string });
    await page.goto(`${server.url}/#/runs/${run?.id}`);
    await page.locator(".bar-sleeping").waitFor({ timeout: 10_000 });
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.locator(".detail-head .badge-cancelled").waitFor();
    expect((await server.engine.getRun(run?.id as string))?.status).toBe("Cancelled");
  });

  it("shows events, functions and apps", async () => {
    await page.goto(`${server.url}/#/events`);
    await page.getByTestId("events").waitFor();
    await page.screenshot({ path: join(shots, "events.png") });
    await page.goto(`${server.url}/#/functions`);
    await page.locator('[data-function="ui-hello"]').waitFor();
    await page.screenshot({ path: join(shots, "functions.png"), fullPage: true });
    await page.goto(`${server.url}/#/apps`);
    await page.getByText("No apps synced").waitFor();
    await page.screenshot({ path: join(shots, "apps.png") });
  });

  it("stepwise start: the dashboard logs in with its secret; an HttpOnly SameSite=Strict cookie opens the API and the live stream, no secret in any URL", async () => {
    const secured = await runServer({
      mode: "start",
      port: 0,
      db: join(tempDir(), "secured.db"),
      signingKey: "signkey-test-00ff",
      eventKey: "ek",
      dashboardToken: "open-sesame",
      logRuns: false,
      logger: silentLogger,
    });
    try {
      const fresh = await browser.newPage();
      const urls: string[] = [];
      const stream: number[] = [];
      fresh.on("request", (r) => urls.push(r.url()));
      fresh.on("response", (r) => {
        if (new URL(r.url()).pathname === "/v1/stream") stream.push(r.status());
      });
      await fresh.goto(`${secured.url}/#/runs`);
      await fresh.getByText("This server needs the dashboard token.").waitFor();
      await fresh.getByLabel("token").fill("wrong");
      await fresh.getByRole("button", { name: "Open" }).click();
      await fresh.getByText("wrong dashboard secret").waitFor();
      await fresh.getByLabel("token").fill("open-sesame");
      await fresh.getByRole("button", { name: "Open" }).click();
      await fresh.getByText("No runs yet").waitFor();
      const deadline = Date.now() + 5000;
      while (!stream.includes(200) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(stream).toContain(200);
      const cookies = await fresh.context().cookies();
      const session = cookies.find((c) => c.name === "stepwise_session");
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", secure: false });
      expect(urls.filter((u) => /token=|open-sesame/.test(u))).toEqual([]);
      expect(await fresh.evaluate(() => JSON.stringify(localStorage))).not.toContain("open-sesame");
      await fresh.close();
    } finally {
      await secured.close();
    }
  });
});
