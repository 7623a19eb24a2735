/**
 * The "what is wrong" endpoints: per-function charts (runs per minute by status, failure
 * rate, p50/p95), the stuck-or-slow view with what each run waits on, rerun from a step
 * with new data, and background replay jobs with progress; bad input is a 4xx naming the field.
 */
// biome-ignore-all lint/suspicious/noExplicitAny: response bodies of several shapes, read loosely
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Stepwise } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";
import { aggregateStats, percentile } from "../../packages/server/src/routes/stats.ts";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-insights-"));
  const store = new SqliteStore({ filename: join(dir, "d.db") });
  await store.migrate();
  const engine: Engine = createEngine({ store, logger: silentLogger, retryDelayScale: 0.01, replayBatchSize: 2 });
  const client = new Stepwise({ id: "i", logger: silentLogger });
  let broken = true;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const fns = [
    client.createFunction({ id: "work", retries: 0 }, { event: "i/work" }, async ({ event, step }) => {
      const a = await step.run("load", () => (event.data.n as number) * 2);
      const b = await step.run("save", () => {
        if (broken || event.data.fail) throw new Error("disk full");
        return a + 1;
      });
      return b;
    }),
    client.createFunction({ id: "napper" }, { event: "i/nap" }, async ({ step }) => {
      await step.run("before", () => 1);
      await step.sleep("nap", "1h");
    }),
    client.createFunction({ id: "waiter" }, { event: "i/wait" }, async ({ step }) => step.waitForEvent("reply", { event: "i/reply", timeout: "1h" })),
    client.createFunction({ id: "limited", concurrency: { limit: 1 } }, { event: "i/limited" }, async ({ step }) => step.run("hold", () => gate)),
  ];
  engine.register({ client, functions: fns });
  await engine.start();
  cleanup.push(async () => {
    release();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const server = createServer({ engine, logger: silentLogger, mode: "dev" });
  const json = async (path: string, init?: RequestInit) => {
    const res = await server.app.request(path, init);
    return { status: res.status, body: (await res.json()) as { data: any; ids: string[]; error?: string } };
  };
  const post = (body: unknown = {}) => ({ method: "POST", body: JSON.stringify(body) });
  const send = async (name: string, data: Record<string, unknown> = {}) => {
    const { ids } = await engine.send({ name, data });
    return (await engine.listRuns({ eventId: ids[0] as string }))[0]!.id;
  };
  return { engine, json, post, send, fix: () => (broken = false) };
}

describe("stats aggregation", () => {
  it("nearest-rank percentiles", () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([5], 0.95)).toBe(5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.95)).toBe(95);
  });

  it("fills every bucket of the range, rates per minute, failure rate of ended runs, p50/p95 per bucket and overall", () => {
    const now = Date.UTC(2026, 0, 1, 12, 30, 10);
    const minute = 60_000;
    const bucket = Math.floor(now / minute) * minute;
    const out = aggregateStats(
      {
        buckets: [
          { at: bucket, counts: { Completed: 3, Failed: 1, Running: 2 } },
          { at: bucket - 10 * minute, counts: { Completed: 1 } },
        ],
        durations: [
          { createdAt: bucket + 1, ms: 100 },
          { createdAt: bucket + 2, ms: 300 },
          { createdAt: bucket + 3, ms: 200 },
          { createdAt: bucket - 10 * minute, ms: 1000 },
        ],
      },
      "1h",
      now,
    );
    expect(out.buckets).toHaveLength(60);
    const last = out.buckets.at(-1)!;
    expect(last).toMatchObject({ at: new Date(bucket).toISOString(), total: 6, failed: 1, failure_rate: 0.25, p50_ms: 200, p95_ms: 300 });
    expect(last.per_minute).toEqual({ Completed: 3, Failed: 1, Running: 2 });
    expect(out.buckets[0]).toMatchObject({ total: 0, failure_rate: null, p50_ms: null });
    expect(out.totals).toMatchObject({ counts: { Completed: 4, Failed: 1, Running: 2 }, total: 7, failed: 1, failure_rate: 0.2, p50_ms: 200, p95_ms: 1000 });
    const day = aggregateStats({ buckets: [], durations: [] }, "24h", now);
    expect(day.buckets).toHaveLength(96);
    expect(day.bucket_ms).toBe(900_000);
  });
});

describe("insights API", () => {
  it("charts a function's last hour from the store; refuses an unknown range or function", async () => {
    const { engine, json, send, fix } = await setup();
    const failed = await send("i/work", { n: 1 });
    await engine.waitForRun(failed);
    fix();
    for (let i = 0; i < 3; i++) await engine.waitForRun(await send("i/work", { n: i }));
    const stats = await json("/v1/functions/i-work/stats?range=1h");
    expect(stats.status).toBe(200);
    expect(stats.body.data).toMatchObject({ function_id: "i-work", range: "1h", bucket_ms: 60_000, durations_sampled: 4 });
    expect(stats.body.data.totals).toMatchObject({ counts: { Completed: 3, Failed: 1 }, total: 4, failed: 1, failure_rate: 0.25 });
    expect(stats.body.data.totals.p95_ms).toBeGreaterThanOrEqual(stats.body.data.totals.p50_ms);
    const day = await json("/v1/functions/i-work/stats?range=24h");
    expect(day.body.data.buckets).toHaveLength(96);
    expect(day.body.data.totals.total).toBe(4);
    const bad = await json("/v1/functions/i-work/stats?range=7d");
    expect(bad).toMatchObject({ status: 400, body: { error: 'range: expected "1h" or "24h"' } });
    expect((await json("/v1/functions/i-nope/stats")).status).toBe(404);
  });

  it("lists the oldest queued and longest running runs with what each waits on", async () => {
    const { json, send } = await setup();
    const napping = await send("i/nap");
    const waiting = await send("i/wait");
    const holding = await send("i/limited");
    const blocked = await send("i/limited");
    const deadline = Date.now() + 10_000;
    let data: any;
    for (;;) {
      data = (await json("/v1/stuck?limit=10")).body.data;
      const kinds = data.running.map((r: any) => r.waiting_on.kind).sort();
      if ((kinds.join() === "event,sleep,step" && data.queued.length === 1) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const byId = Object.fromEntries([...data.running, ...data.queued].map((r: any) => [r.run_id, r]));
    expect(byId[napping].waiting_on).toMatchObject({ kind: "sleep", step: "nap" });
    expect(byId[napping].waiting_on.until).toBeGreaterThan(Date.now() + 3_000_000);
    expect(byId[waiting].waiting_on).toMatchObject({ kind: "event", step: "reply", event: "i/reply" });
    // executing its step: it holds the one slot of its concurrency key
    expect(byId[holding].waiting_on).toMatchObject({ kind: "step" });
    expect(byId[blocked]).toMatchObject({ status: "Queued", waiting_on: { kind: "concurrency", limit: 1 } });
    // longest running first
    const starts = data.running.map((r: any) => Date.parse(r.run_started_at));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(data.queue).toMatchObject({ due: expect.any(Number), leased: expect.any(Number) });
    expect((await json("/v1/stuck?limit=0")).body.error).toBe("limit: expected an integer from 1 to 100");
  });

  it("reruns from a step with new data over REST; a bad step or body is a 400 naming the field", async () => {
    const { engine, json, post, send, fix } = await setup();
    const original = await send("i/work", { n: 5 });
    expect((await engine.waitForRun(original)).status).toBe("Failed");
    fix();
    const res = await json(`/v1/runs/${original}/rerun`, post({ from_step: "save", data: { n: 5 } }));
    expect(res.body.data).toMatchObject({ rerun_of: original, from_step: "save" });
    const rerun = await engine.waitForRun(res.body.data.run_id);
    expect(rerun.output).toBe(11);
    const detail = await json(`/v1/runs/${rerun.id}`);
    expect(detail.body.data).toMatchObject({ rerun_of: original, rerun_from_step: "save" });
    expect(detail.body.data.steps.map((s: any) => s.name)).toEqual(["load", "save"]);
    const bad = await json(`/v1/runs/${original}/rerun`, post({ from_step: "nope" }));
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^from_step: run \S+ has no step "nope"/);
    expect((await json(`/v1/runs/${original}/rerun`, post({ data: [1] }))).body.error).toBe("data: expected an object (the new event data)");
    expect((await json(`/v1/runs/${original}/rerun`, post({ from_step: 3 }))).status).toBe(400);
    expect((await json("/v1/runs/nope/rerun", post())).status).toBe(404);
  });

  it("starts a replay job (202) and reports its progress to completion; bad bodies are 400s naming the field", async () => {
    const { engine, json, post, send, fix } = await setup();
    const originals = [];
    for (let i = 0; i < 5; i++) originals.push(await send("i/work", { n: i }));
    for (const id of originals) await engine.waitForRun(id);
    fix();
    const started = await json("/v1/replays", post({ function_id: "i-work", statuses: ["Failed"], from: new Date(Date.now() - 60_000).toISOString() }));
    expect(started.status).toBe(202);
    expect(started.body.data).toMatchObject({ function_id: "i-work", statuses: ["Failed"], total: 5, state: "running" });
    const id = started.body.data.id;
    let job: any;
    for (let i = 0; i < 200; i++) {
      job = (await json(`/v1/replays/${id}`)).body.data;
      if (job.state !== "running") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(job).toMatchObject({ state: "completed", total: 5, done: 5, error: null });
    expect((await json("/v1/replays")).body.data.map((j: any) => j.id)).toContain(id);
    const reruns = (await engine.listRuns({ functionId: "i-work" })).filter((r) => r.rerunOf);
    expect(reruns.map((r) => r.rerunOf).sort()).toEqual([...originals].sort());
    expect((await json("/v1/replays", post({}))).body.error).toBe("function_id is required");
    expect((await json("/v1/replays", post({ function_id: "i-work", statuses: ["Bad"] }))).body.error).toMatch(/^statuses\[0\]: expected one of/);
    expect((await json("/v1/replays", post({ function_id: "i-work", from: "yesterday" }))).body.error).toMatch(/^from: expected an ISO date/);
    expect((await json("/v1/replays", post({ function_id: "i-nope" }))).status).toBe(404);
    expect((await json("/v1/replays/nope")).status).toBe(404);
  });
});
