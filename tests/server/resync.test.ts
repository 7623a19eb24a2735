/**
 * Re-syncing an app with many functions is linear and does not block the server: a sync
 * of 10,000 functions (first, identical again, then half replaced) keeps the event loop
 * answering, measured with a timer drift probe around each sync.
 */
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let stepwise: RunningServer;
beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, logger: silentLogger });
});
afterAll(() => stepwise?.close());

const appUrl = "http://127.0.0.1:1/api/inngest";
const appName = "many";

function wire(ids: number[]) {
  return ids.map((i) => ({
    id: `${appName}-fn-${i}`,
    name: `fn ${i}`,
    triggers: i % 10 === 0 ? [{ event: `many/prefix-${i % 7}.*` }] : [{ event: `many/event-${i % 100}` }],
    steps: { step: { id: "step", name: "step", runtime: { type: "http", url: `${appUrl}?fnId=${appName}-fn-${i}&stepId=step` }, retries: { attempts: 2 } } },
  }));
}

/** Runs `work` while a 10 ms timer measures the longest the event loop went without running it. */
async function maxBlockedMs<T>(work: () => Promise<T>): Promise<{ value: T; blockedMs: number }> {
  let last = performance.now();
  let blockedMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    blockedMs = Math.max(blockedMs, now - last - 10);
    last = now;
  }, 10);
  try {
    const value = await work();
    // one more tick: a block at the very end counts too
    await new Promise((r) => setTimeout(r, 15));
    return { value, blockedMs };
  } finally {
    clearInterval(timer);
  }
}

async function sync(ids: number[]) {
  const response = await fetch(`${stepwise.url}/fn/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url: appUrl, appName, framework: "test", sdk: "test:1", v: "0.1", deployType: "ping", functions: wire(ids) }),
  });
  const body = (await response.json()) as { ok?: boolean; error?: string };
  expect(body.error).toBeUndefined();
  return body;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const budgetMs = 1_000;

describe("syncing an app of 10,000 functions", () => {
  it("registers, re-registers and replaces half without blocking the event loop for a second", async () => {
    // the code paths are compiled once by a small sync, so the probe measures the size of the sync, not start-up
    await sync(range(20_000, 20_050));
    const first = await maxBlockedMs(() => sync(range(0, 10_000)));
    const again = await maxBlockedMs(() => sync(range(0, 10_000)));
    const replaced = await maxBlockedMs(() => sync(range(5_000, 15_000)));
    process.stdout.write(
      `resync of 10,000 functions: longest event-loop block first ${first.blockedMs.toFixed(0)} ms, again ${again.blockedMs.toFixed(0)} ms, half replaced ${replaced.blockedMs.toFixed(0)} ms\n`,
    );
    expect(first.value.ok).toBe(true);
    expect(again.value).toMatchObject({ ok: true, modified: false });
    expect(replaced.value).toMatchObject({ ok: true, modified: true });
    const ids = new Set(stepwise.engine.functions().map((f) => f.config.id));
    expect(ids.size).toBe(10_000);
    expect(ids.has(`${appName}-fn-4999`)).toBe(false);
    expect(ids.has(`${appName}-fn-5000`)).toBe(true);
    expect(ids.has(`${appName}-fn-14999`)).toBe(true);
    expect(stepwise.server.apps.list().find((a) => a.appName === appName)?.functionIds.length).toBe(10_000);
    for (const run of [first, again, replaced]) expect(run.blockedMs).toBeLessThan(budgetMs);
  }, 120_000);
});
