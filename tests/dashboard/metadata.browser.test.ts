/// <reference lib="dom" />
/**
 * The run page shows a run's scores and metadata, a step's metadata in the step panel,
 * and the trigger event's sessions (Debian chromium driven by playwright-core).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type Browser, chromium } from "playwright-core";
import { Stepwise } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";

const chromiumPath = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../../", import.meta.url));
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does this`);
  execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build"], { cwd: join(root, "packages/dashboard"), stdio: "ignore" });
  const client = new Stepwise({ id: "ui-meta", logger: silentLogger });
  const scored = client.createFunction({ id: "scored" }, { event: "ui/scored" }, async ({ step }) => {
    await step.run("ask", async () => {
      await client.metadata.set({ model: "m-ui" });
      return "ok";
    });
    await step.score("rate", { name: "quality", value: 0.75 });
  });
  server = await runServer({
    mode: "dev",
    port: 0,
    db: join(tempDir(), "ui.db"),
    logRuns: false,
    logger: silentLogger,
    inProcess: { client, functions: [scored] },
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("dashboard: metadata and scores", () => {
  it("shows scores, run metadata, step metadata and sessions on the run page", async () => {
    const { ids } = await server.engine.send({ name: "ui/scored", data: {}, meta: { sessions: { chat: "c-42" } } });
    const [run] = await server.engine.listRuns({ eventId: ids[0]! });
    await server.engine.waitForRun(run!.id, { timeoutMs: 10_000 });
    await server.engine.addRunMetadata(run!.id, [{ kind: "userland.review", op: "set", values: { by: "qa" } }]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.url}/#/runs/${run!.id}`);
    await page.getByTestId("run-scores").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("run-scores").innerText()).toMatch(/quality\s+0\.75/);
    expect(await page.getByTestId("run-metadata").innerText()).toContain('"by": "qa"');
    expect(await page.getByTestId("event-sessions").innerText()).toContain("chat=c-42");
    await page.locator('[data-step="ask"]').click();
    const panel = await page.getByTestId("step-metadata").innerText();
    expect(panel).toContain("userland.default");
    expect(panel).toContain('"model": "m-ui"');
    await page.close();
  });
});
