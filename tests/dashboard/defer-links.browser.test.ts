/// <reference lib="dom" />
/**
 * The run page links deferred runs both ways, in a real browser (Debian chromium driven
 * by playwright-core): a parent's "deferred runs" lists its child, whose page links back
 * under "deferred by".
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type Browser, chromium } from "playwright-core";
import { createDefer, Stepwise } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, until } from "../helpers.ts";

const chromiumPath = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../../", import.meta.url));
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does this`);
  execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build"], { cwd: join(root, "packages/dashboard"), stdio: "ignore" });
  const client = new Stepwise({ id: "ui", logger: silentLogger });
  const notify = createDefer(client, { id: "notify" }, async () => "notified");
  const parent = client.createFunction({ id: "parent" }, { event: "ui/defer" }, async ({ defer }) => {
    defer("tell", { function: notify, data: {} });
    return "parent";
  });
  server = await runServer({
    mode: "dev",
    port: 0,
    db: join(tempDir(), "ui.db"),
    logRuns: false,
    logger: silentLogger,
    retryDelayScale: 0.01,
    inProcess: { client, functions: [notify, parent] },
  });
  client.bindSender((events) => server.engine.send(events));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("dashboard: deferred runs", () => {
  it("links a parent to its deferred run and back", async () => {
    const { ids } = await server.engine.send({ name: "ui/defer", data: {} });
    const [run] = await server.engine.listRuns({ eventId: ids[0] as string });
    const parent = await server.engine.waitForRun(run?.id as string, { timeoutMs: 10_000 });
    let children = await server.engine.listRuns({ parentRunId: parent.id });
    await until(async () => {
      children = await server.engine.listRuns({ parentRunId: parent.id });
      return children.length === 1;
    });
    const child = children[0];
    expect(child).toBeDefined();
    const page = await browser.newPage();
    await page.goto(`${server.url}/#/runs/${parent.id}`);
    const list = page.getByTestId("deferred-runs");
    await list.waitFor({ timeout: 10_000 });
    expect(await list.innerText()).toContain(child?.id);
    await list.getByRole("link", { name: child?.id }).click();
    await page.waitForFunction((id) => document.querySelector("[data-testid=run-id]")?.textContent === id, child?.id);
    const back = page.getByTestId("deferred-by");
    expect(await back.innerText()).toBe(parent.id);
    expect(await page.getByTestId("deferred-runs").count()).toBe(0);
    await page.close();
  }, 30_000);
});
