/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The "what is wrong" dashboard in a real browser (Debian chromium via playwright-core):
 * dark mode and its persisted toggle, keyboard navigation (j/k, Enter, /, ?, Esc) with
 * visible focus, a function's charts over the last hour and day, the stuck-or-slow view,
 * rerun from a step with edited data, and a bulk replay with its progress. Screenshots
 * go to docs/screenshots/ (the content is the same each run; only clock times differ).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type Browser, chromium, type Page } from "playwright-core";
import { Stepwise } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";
import { buildDashboard } from "./build-dashboard.ts";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium) console.warn(`insights.browser.test: skipped, ${chromiumPath} is missing (apt-get install -y chromium)`);
const root = fileURLToPath(new URL("../../", import.meta.url));
const shots = join(root, "docs/screenshots");
let server: RunningServer;
let browser: Browser;
let page: Page;
let failCharge = true;
let release: () => void = () => {};

async function runsOf(eventId: string) {
  return server.engine.listRuns({ eventId });
}

async function send(name: string, data: Record<string, unknown> = {}) {
  const { ids } = await server.engine.send({ name, data });
  const [run] = await runsOf(ids[0] as string);
  if (!run) throw new Error(`no run for ${name}`);
  return run.id;
}

beforeAll(async () => {
  if (!haveChromium) return;
  await buildDashboard();
  const client = new Stepwise({ id: "shop", logger: silentLogger });
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const checkout = client.createFunction({ id: "checkout", retries: 0 }, { event: "shop/checkout" }, async ({ event, step }) => {
    const cart = await step.run("load-cart", () => ({ order: event.data.order as string, items: 2 }));
    const receipt = await step.run("charge", () => {
      if (failCharge) throw new Error("card declined by the test gateway");
      return `charged ${cart.order} (${event.data.card})`;
    });
    await step.run("email", () => "sent");
    return receipt;
  });
  const nightly = client.createFunction({ id: "nightly-report" }, { event: "shop/report" }, async ({ step }) => {
    await step.run("gather", () => 42);
    await step.sleep("wait-for-night", "6h");
  });
  const approval = client.createFunction({ id: "refund-approval" }, { event: "shop/refund" }, async ({ step }) =>
    step.waitForEvent("manager-approves", { event: "shop/refund.approved", timeout: "2d" }),
  );
  const exporter = client.createFunction({ id: "export", concurrency: { limit: 1 } }, { event: "shop/export" }, async ({ step }) =>
    step.run("write-file", () => gate),
  );
  server = await runServer({
    mode: "dev",
    port: 0,
    db: join(tempDir(), "insights.db"),
    logRuns: false,
    logger: silentLogger,
    retryDelayScale: 0.01,
    inProcess: { client, functions: [checkout, nightly, approval, exporter] },
  });
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
  // the same history every run: 4 failed checkouts, then the gateway is fixed and 6 pass
  for (let i = 1; i <= 4; i++) await server.engine.waitForRun(await send("shop/checkout", { order: `A-${i}`, card: "visa" }));
  failCharge = false;
  for (let i = 5; i <= 10; i++) await server.engine.waitForRun(await send("shop/checkout", { order: `A-${i}`, card: "visa" }));
  failCharge = true;
}, 90_000);

afterAll(async () => {
  release();
  await browser?.close();
  await server?.close();
});

const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--bg").trim());

describe.skipIf(!haveChromium)("dashboard insights in a browser", () => {
  it("follows the system's dark preference; the toggle overrides it and is kept across reloads", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${server.url}/#/runs`);
    await page.getByTestId("runs").waitFor();
    expect(await bg()).toBe("#0f1015");
    await page.screenshot({ path: join(shots, "runs-dark.png") });
    await page.emulateMedia({ colorScheme: "light" });
    expect(await bg()).toBe("#f7f7f8");
    const toggle = page.getByRole("button", { name: /colour theme/ });
    expect(await toggle.innerText()).toBe("Theme: system");
    await toggle.click(); // system → dark
    expect(await bg()).toBe("#0f1015");
    expect(await page.evaluate(() => localStorage.getItem("stepwise.theme"))).toBe("dark");
    await page.reload();
    await page.getByTestId("runs").waitFor();
    expect(await bg()).toBe("#0f1015");
    await page.getByRole("button", { name: /colour theme/ }).click(); // dark → light, despite a dark system
    await page.emulateMedia({ colorScheme: "dark" });
    expect(await bg()).toBe("#f7f7f8");
    await page.getByRole("button", { name: /colour theme/ }).click(); // light → system
    expect(await page.evaluate(() => localStorage.getItem("stepwise.theme"))).toBeNull();
    expect(await bg()).toBe("#0f1015");
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("moves through the run list with j/k and arrows (visible focus), opens with Enter, goes back with Esc; / searches, ? shows help", async () => {
    await page.goto(`${server.url}/#/runs`);
    await page.getByTestId("runs").waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute("data-href") ?? document.activeElement?.tagName);
    const rows = await page.locator("[data-testid=runs] tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-href")));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    await page.keyboard.press("j");
    expect(await focused()).toBe(rows[0]);
    await page.keyboard.press("j");
    await page.keyboard.press("ArrowDown");
    expect(await focused()).toBe(rows[2]);
    await page.keyboard.press("k");
    expect(await focused()).toBe(rows[1]);
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
    expect(outline).toBe("solid");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toMatch(/^(Completed|Failed) run \S+ of shop-checkout$/);
    await page.keyboard.press("Enter");
    await page.getByTestId("run-id").waitFor();
    expect(await page.getByTestId("run-id").innerText()).toBe(rows[1]?.replace("/runs/", ""));
    await page.keyboard.press("Escape");
    await page.getByTestId("runs").waitFor();
    expect(new URL(page.url()).hash).toBe("#/runs");
    await page.keyboard.press("/");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("search");
    await page.keyboard.press("j"); // typing in the field, not navigating
    expect(await page.getByLabel("search").inputValue()).toBe("j");
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Escape");
    expect(await focused()).toBe("BODY");
    await page.keyboard.press("?");
    const help = page.getByTestId("help");
    await help.waitFor();
    expect(await help.innerText()).toContain("Keyboard shortcuts");
    expect(await page.getByRole("dialog", { name: "Keyboard shortcuts" }).isVisible()).toBe(true);
    await page.screenshot({ path: join(shots, "keyboard-help.png") });
    await page.keyboard.press("Escape");
    await help.waitFor({ state: "hidden" });
    expect(new URL(page.url()).hash).toBe("#/runs");
  });

  it("charts a function over the last hour and the last day: runs/min by status, p50/p95, failure rate", async () => {
    await page.goto(`${server.url}/#/functions`);
    await page.getByRole("link", { name: "charts of shop-checkout" }).click();
    await page.getByTestId("figures").waitFor();
    expect(await page.getByTestId("total-runs").innerText()).toBe("10");
    expect(await page.getByTestId("failure-rate").innerText()).toBe("40%");
    expect(await page.getByTestId("p50").innerText()).toMatch(/\d+ ms|s$/);
    // the bars of the current minute(s): 4 failed and 6 completed runs
    const fills = await page.locator("[data-testid=chart-rate] rect").evaluateAll((rects) => rects.map((r) => r.getAttribute("fill")));
    expect(new Set(fills)).toEqual(new Set(["var(--ok)", "var(--bad)"]));
    expect(await page.locator("[data-testid=chart-duration] [data-series=p95] :is(polyline, circle)").count()).toBeGreaterThan(0);
    expect(await page.locator("[data-testid=chart-failures] [data-series='failed / ended'] :is(polyline, circle)").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, "function-charts.png") });
    await page.getByRole("button", { name: "last day" }).click();
    await page.waitForFunction(() => document.querySelector("[aria-pressed=true]")?.textContent === "last day");
    expect(await page.getByTestId("total-runs").innerText()).toBe("10");
    expect(await page.getByText("15-minute buckets").count()).toBe(1);
  });

  it("shows stuck or slow runs with what each waits on", async () => {
    const napping = await send("shop/report");
    const refund = await send("shop/refund", { amount: 20 });
    const exporting = await send("shop/export");
    const blocked = await send("shop/export");
    await page.goto(`${server.url}/#/stuck`);
    await page.locator(`[data-testid=stuck-queued] tr[data-href="/runs/${blocked}"]`).waitFor({ timeout: 10_000 });
    const waitOf = (id: string) => page.locator(`tr[data-href="/runs/${id}"] td:last-child`).innerText();
    await page.locator(`tr[data-href="/runs/${napping}"][data-wait=sleep]`).waitFor({ timeout: 10_000 });
    await page.locator(`tr[data-href="/runs/${refund}"][data-wait=event]`).waitFor({ timeout: 10_000 });
    expect(await waitOf(napping)).toMatch(/^sleep "wait-for-night" until /);
    expect(await waitOf(refund)).toMatch(/^event shop\/refund\.approved for step "manager-approves" until /);
    // its first step runs inside the call that discovered it: no step is recorded until it ends
    expect(await waitOf(exporting)).toBe("its next call (executing or due)");
    expect(await waitOf(blocked)).toMatch(/^a concurrency slot of .+ \(limit 1\)$/);
    await page.screenshot({ path: join(shots, "stuck.png"), fullPage: true });
    // keyboard: the first row of the first list opens
    await page.keyboard.press("j");
    await page.keyboard.press("Enter");
    await page.getByTestId("run-id").waitFor();
    expect(await page.getByTestId("run-id").innerText()).toBe(blocked);
  });

  it("reruns a failed run from its failing step with edited event data; the new run links to the original", async () => {
    failCharge = false;
    const [failed] = await server.engine.listRuns({ functionId: "shop-checkout", status: "Failed", limit: 1 });
    await page.goto(`${server.url}/#/runs/${failed?.id}`);
    await page.locator('[data-step="charge"]').click();
    await page.getByRole("button", { name: /Rerun from “charge”/ }).click();
    const editor = page.getByTestId("rerun-data");
    await editor.fill("[1]");
    await page.getByText("the event data must be an object").waitFor();
    const originalEvent = await server.engine.store.getEvent(failed?.eventIds[0] as string);
    const originalOrder = (originalEvent?.data as { order?: string } | undefined)?.order;
    expect(originalOrder).toMatch(/^A-\d$/);
    await editor.fill(JSON.stringify({ order: "EDITED", card: "mastercard" }, null, 2));
    await page.screenshot({ path: join(shots, "rerun-from-step.png") });
    await page.getByRole("button", { name: "Rerun from charge" }).click();
    await page.getByTestId("rerun-of").waitFor();
    await page.locator(".detail-head .badge-completed").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("rerun-of").innerText()).toBe(`${failed?.id} from step “charge”`);
    const rerunId = await page.getByTestId("run-id").innerText();
    const rerun = await server.engine.getRun(rerunId);
    // load-cart was copied from the original (memoized: its order, not the edited one); charge saw the edited card
    expect(rerun?.output).toBe(`charged ${originalOrder} (mastercard)`);
    expect(rerun?.steps.map((s) => s.name)).toEqual(["load-cart", "charge", "email"]);
    await page.getByTestId("rerun-of").getByRole("link").click();
    await page.waitForFunction((id) => document.querySelector("[data-testid=run-id]")?.textContent === id, failed?.id);
  });

  it("bulk-replays the failed runs of a function in a time range, showing progress to n of n", async () => {
    failCharge = false;
    const failedBefore = await server.engine.listRuns({ functionId: "shop-checkout", status: "Failed" });
    expect(failedBefore).toHaveLength(4);
    await page.goto(`${server.url}/#/replays`);
    await page.getByLabel("replay function").selectOption("shop-checkout");
    expect(await page.getByRole("button", { name: "Failed", pressed: true }).count()).toBe(1);
    const hourAgo = new Date(Date.now() - 3_600_000);
    const local = new Date(hourAgo.getTime() - hourAgo.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.getByLabel("replay from").fill(local);
    await page.getByRole("button", { name: "Start replay" }).click();
    const row = page.locator("[data-testid=replays] tbody tr").first();
    await page.locator('[data-testid=replays] tbody tr[data-state="completed"]').first().waitFor({ timeout: 15_000 });
    expect(await row.getByTestId("replay-progress").innerText()).toBe("4 of 4");
    expect(await row.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("4");
    await page.screenshot({ path: join(shots, "replays.png") });
    const reruns = (await server.engine.listRuns({ functionId: "shop-checkout", limit: 100 })).filter((r) => r.rerunOf);
    const replayed = new Set(reruns.map((r) => r.rerunOf));
    for (const run of failedBefore) expect(replayed.has(run.id)).toBe(true);
  });

  it("Replay matching on the run list starts a replay job of the filtered runs and shows it on the Replays page", async () => {
    await page.goto(`${server.url}/#/runs`);
    await page.getByTestId("runs").waitFor();
    await page.getByLabel("function").selectOption("shop-checkout");
    await page.getByLabel("status").selectOption("Failed");
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=runs] tbody tr")].every((tr) => tr.getAttribute("data-status") === "Failed"));
    const before = (await server.engine.listReplays()).length;
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Replay matching" }).click();
    await page.waitForFunction(() => location.hash.startsWith("#/replays"));
    await page.locator("[data-testid=replays] tbody tr").nth(before).waitFor();
    const jobs = await server.engine.listReplays();
    expect(jobs).toHaveLength(before + 1);
    expect(jobs[0]).toMatchObject({ functionId: "shop-checkout", statuses: ["Failed"], total: 4 });
    await page.locator(`[data-replay="${jobs[0]?.id}"][data-state="completed"]`).waitFor({ timeout: 15_000 });
    expect(await page.locator(`[data-replay="${jobs[0]?.id}"]`).getByTestId("replay-progress").innerText()).toBe("4 of 4");
    expect(await page.getByLabel("replay function").inputValue()).toBe("shop-checkout");
  });
});
