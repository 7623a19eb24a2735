/// <reference lib="dom" />
/**
 * The dashboard's AI step inspector in a real browser (Debian chromium via playwright-core):
 * a run calling a fake OpenAI-compatible server and a fake Anthropic server through
 * step.ai.infer shows each step's model, prompt, response and token counts, and no key.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type Browser, chromium, type Page } from "playwright-core";
import { anthropic, openai, Stepwise } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";
import { type FakeServer, fakeLlm } from "./fake-servers.ts";

const chromiumPath = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../../", import.meta.url));
let server: RunningServer;
let browser: Browser;
let page: Page;
let llm: FakeServer;
let client: Stepwise;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium)`);
  execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build"], { cwd: join(root, "packages/dashboard"), stdio: "ignore" });
  llm = await fakeLlm();
  client = new Stepwise({ id: "ui-ai", logger: silentLogger });
  const ask = client.createFunction({ id: "ask" }, { event: "ai/ask" }, async ({ step }) => {
    await step.ai.infer("ask-openai", {
      model: openai({ model: "gpt-4o-mini", apiKey: "sk-dashboard-secret", baseUrl: `${llm.url}/v1` }),
      body: { messages: [{ role: "user", content: "What is durable execution?" }] },
    });
    await step.ai.infer("ask-claude", {
      model: anthropic({ model: "claude-haiku-4-5", apiKey: "sk-ant-dashboard", baseUrl: `${llm.url}/v1` }),
      body: { max_tokens: 50, system: "Be brief.", messages: [{ role: "user", content: "Say hi" }] },
    });
  });
  server = await runServer({
    mode: "dev",
    port: 0,
    db: join(tempDir(), "ui-ai.db"),
    logRuns: false,
    logger: silentLogger,
    retryDelayScale: 0.01,
    inProcess: { client, functions: [ask] },
  });
  client.bindSender((events) => server.engine.send(events));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await llm?.close();
});

describe("AI steps in the dashboard", () => {
  it("shows model, prompt, response and token counts of each step.ai.infer", async () => {
    const { ids } = await client.send({ name: "ai/ask" });
    const [run] = await server.engine.listRuns({ eventId: ids[0] as string });
    const done = await server.engine.waitForRun(run?.id as string, { timeoutMs: 10_000 });
    expect(done.status).toBe("Completed");
    await page.goto(`${server.url}/#/runs/${done.id}`);
    await page.locator('[data-step="ask-openai"]').click();
    const panel = page.getByTestId("step-panel");
    await panel.getByTestId("ai-step").waitFor();
    expect(await panel.getByTestId("ai-model").innerText()).toBe("gpt-4o-mini");
    expect(await panel.getByTestId("ai-tokens").innerText()).toBe("11 in · 7 out · 18 total");
    expect(await panel.getByTestId("ai-prompt").innerText()).toContain("What is durable execution?");
    expect(await panel.getByTestId("ai-response").innerText()).toContain("openai says: What is durable execution?");
    expect(await panel.innerText()).not.toContain("sk-dashboard-secret");
    await page.locator('[data-step="ask-claude"]').click();
    await page.getByTestId("ai-model").filter({ hasText: "claude-haiku-4-5" }).waitFor();
    expect(await panel.getByTestId("ai-tokens").innerText()).toBe("13 in · 5 out · 18 total");
    const prompt = await panel.getByTestId("ai-prompt").innerText();
    expect(prompt).toContain("Be brief.");
    expect(prompt).toContain("Say hi");
    expect(await panel.getByTestId("ai-response").innerText()).toContain("claude says: Say hi");
    expect(await page.content()).not.toContain("sk-ant-dashboard");
  }, 30_000);
});
