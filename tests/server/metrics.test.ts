/**
 * `GET /metrics`: Prometheus text from prom-client after real runs on SQLite. Counters
 * match what ran, every line is valid exposition format, queue gauges come from the store,
 * and start mode asks for a credential unless `metricsPublic`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { createMetrics, createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Stepwise } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";

const signingKey = "signkey-test-0123456789abcdef";
const engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(options: { mode?: "dev" | "start"; metricsPublic?: boolean } = {}) {
  const mode = options.mode ?? "dev";
  const dir = mkdtempSync(join(tmpdir(), "stepwise-metrics-"));
  dirs.push(dir);
  const store = new SqliteStore({ filename: join(dir, "m.db") });
  await store.migrate();
  const metrics = createMetrics();
  const engine = createEngine({ store, logger: silentLogger, retryDelayScale: 0.01, metrics: metrics.hooks });
  engines.push(engine);
  const client = new Stepwise({ id: "m", logger: silentLogger });
  const ok = client.createFunction({ id: "ok" }, { event: "m/ok" }, async ({ step }) => {
    await step.run("a", () => 1);
    await step.run("b", () => 2);
    return "done";
  });
  const bad = client.createFunction({ id: "bad", retries: 0 }, { event: "m/bad" }, async ({ step }) =>
    step.run("boom", () => {
      throw new Error("boom");
    }),
  );
  const throttled = client.createFunction({ id: "throttled", throttle: { limit: 1, period: "1h" } }, { event: "m/throttled" }, async () => "t");
  const fan = client.createFunction({ id: "fan" }, { event: "m/fan" }, async ({ step }) =>
    step.sendEvent("fan-out", [{ name: "m/throttled" }, { name: "m/throttled" }]),
  );
  engine.register({ client, functions: [ok, bad, throttled, fan] });
  await engine.start();
  const server = createServer({
    engine,
    logger: silentLogger,
    mode,
    metrics,
    ...(options.metricsPublic ? { metricsPublic: true } : {}),
    ...(mode === "start" ? { signingKey, eventKey: "evt-key" } : {}),
  });
  return { engine, server };
}

/**
 * One sample or comment line of the text exposition format, strictly. Values as Prometheus
 * reads them (Go's ParseFloat: Inf and NaN in any case; prom-client writes `Nan`).
 */
const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const value = "(?:[-+]?(?:[0-9]+(?:\\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\\.[0-9]+(?:[eE][-+]?[0-9]+)?)|[-+]?[Ii][Nn][Ff]|[Nn][Aa][Nn])";
const sampleLine = new RegExp(`^(${name})(?:\\{(?:${label}(?:,${label})*)?\\})? ${value}(?: -?[0-9]+)?$`);
const helpLine = new RegExp(`^# HELP (${name}) .*$`);
const typeLine = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`);

/** Parses the text into samples keyed by `name{labels}`, failing on any line that is not valid. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = typeLine.exec(line);
    if (type) {
      typed.set(type[1] as string, type[2] as string);
      continue;
    }
    if (helpLine.test(line)) continue;
    const sample = sampleLine.exec(line);
    if (!sample) throw new Error(`invalid exposition line: ${JSON.stringify(line)}`);
    const metric = sample[1] as string;
    const family = metric.replace(/_(bucket|sum|count|total|created)$/, "");
    expect(typed.has(metric) || typed.has(family) || typed.has(`${family}_total`), `sample before its # TYPE: ${line}`).toBe(true);
    const [key, raw] = [line.slice(0, line.lastIndexOf(" ")), line.slice(line.lastIndexOf(" ") + 1)];
    samples.set(key, Number(raw));
  }
  return samples;
}

async function scrape(server: ReturnType<typeof createServer>, init?: RequestInit) {
  const res = await server.app.request("/metrics", init);
  return { res, text: await res.text() };
}

describe("GET /metrics", () => {
  it("counts runs started and ended by function and status, steps, events and store writes; every line parses", async () => {
    const { engine, server } = await setup();
    const sent = await engine.send([{ name: "m/ok" }, { name: "m/ok" }, { name: "m/ok" }, { name: "m/bad" }]);
    const runs = await Promise.all(sent.ids.map(async (id) => (await engine.listRuns({ eventId: id }))[0]?.id as string));
    for (const runId of runs) await engine.waitForRun(runId, { timeoutMs: 10_000 });
    // the engine reports a run's end after its transition commits: wait for the counters to catch up
    await expect.poll(async () => parseExposition((await scrape(server)).text).get('stepwise_function_run_ended_total{fn="m-ok",status="Completed"}')).toBe(3);
    const { res, text } = await scrape(server);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(text);
    expect(m.get('stepwise_function_run_started_total{fn="m-ok"}')).toBe(3);
    expect(m.get('stepwise_function_run_started_total{fn="m-bad"}')).toBe(1);
    expect(m.get('stepwise_function_run_ended_total{fn="m-bad",status="Failed"}')).toBe(1);
    expect(m.get('stepwise_function_run_ended_total{fn="m-ok",status="Failed"}')).toBeUndefined();
    // two steps per ok run, one (failed) attempt per bad run
    expect(m.get('stepwise_step_duration_seconds_count{fn="m-ok"}')).toBe(6);
    expect(m.get('stepwise_step_duration_seconds_bucket{le="+Inf",fn="m-ok"}')).toBe(6);
    // 4 sent, and inngest/function.finished / failed events emitted by the ends
    expect(m.get("stepwise_events_stored_total")).toBeGreaterThanOrEqual(4);
    expect(m.get('stepwise_store_write_duration_seconds_count{operation="ingestEvents"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('stepwise_store_write_duration_seconds_count{operation="claimQueueItems"}')).toBeGreaterThanOrEqual(1);
    expect(m.get("stepwise_lease_expiries_total")).toBe(0);
    expect(m.get("stepwise_store_up")).toBe(1);
    expect(m.get("stepwise_queue_depth")).toBe(0);
    expect(m.get("stepwise_queue_oldest_due_age_seconds")).toBe(0);
    expect(m.get("stepwise_draining")).toBe(0);
    // Node's default process metrics are there too
    expect([...m.keys()].some((k) => k.startsWith("process_cpu_user_seconds_total"))).toBe(true);
  });

  it("reports flow-control waits by kind, as a counter and as a gauge read from the store", async () => {
    const { engine, server } = await setup();
    await engine.send([{ name: "m/throttled" }]);
    await engine.send([{ name: "m/throttled" }]);
    // two more, sent by a step (emitted in the step's commit, not through send)
    const { ids } = await engine.send([{ name: "m/fan" }]);
    const fanRun = (await engine.listRuns({ eventId: ids[0] as string }))[0]?.id as string;
    expect((await engine.waitForRun(fanRun, { timeoutMs: 10_000 })).status).toBe("Completed");
    const m = parseExposition((await scrape(server)).text);
    // the first run is admitted; the other three wait for the throttle's period
    expect(m.get('stepwise_flow_control_waits_total{kind="throttle"}')).toBe(3);
    expect(m.get('stepwise_runs_waiting{kind="throttle"}')).toBe(3);
    expect(m.get('stepwise_runs_waiting{kind="debounce"}')).toBe(0);
  });

  it("start mode: /metrics needs a credential like /v1, unless metricsPublic", async () => {
    const { server } = await setup({ mode: "start" });
    const anonymous = await scrape(server);
    expect(anonymous.res.status).toBe(401);
    expect(anonymous.text).not.toContain("stepwise_");
    const authed = await scrape(server, { headers: { authorization: `Bearer ${hashSigningKey(signingKey)}` } });
    expect(authed.res.status).toBe(200);
    expect(authed.text).toContain("stepwise_function_run_started_total");
    const open = await setup({ mode: "start", metricsPublic: true });
    expect((await scrape(open.server)).res.status).toBe(200);
  });

  it("counts a lease this node lost once (the worker's heartbeat finds it taken over)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-metrics-"));
    dirs.push(dir);
    const store = new SqliteStore({ filename: join(dir, "lease.db") });
    await store.migrate();
    // the first heartbeat reports the first claim's lease lost, as when another worker took it
    // over; later ones extend leases for real (the item, its lease lapsed, is claimed again)
    const realExtend = store.extendLeases.bind(store);
    let lostOnce = false;
    store.extendLeases = async (params) => {
      if (lostOnce || params.leases.length === 0) return realExtend(params);
      lostOnce = true;
      return params.leases.map((l) => l.itemId);
    };
    const metrics = createMetrics({ defaultMetrics: false });
    const engine = createEngine({ store, logger: silentLogger, leaseMs: 150, metrics: metrics.hooks });
    engines.push(engine);
    const client = new Stepwise({ id: "lease", logger: silentLogger });
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = client.createFunction({ id: "slow" }, { event: "lease/slow" }, async ({ step }) => step.run("s", () => stalled));
    engine.register({ client, functions: [slow] });
    await engine.start();
    const server = createServer({ engine, logger: silentLogger, mode: "dev", metrics });
    expect(parseExposition((await scrape(server)).text).get("stepwise_lease_expiries_total")).toBe(0);
    const { ids } = await engine.send({ name: "lease/slow" });
    await expect.poll(async () => parseExposition((await scrape(server)).text).get("stepwise_lease_expiries_total"), { timeout: 5_000 }).toBe(1);
    release();
    const runId = (await engine.listRuns({ eventId: ids[0] as string }))[0]?.id as string;
    expect((await engine.waitForRun(runId, { timeoutMs: 10_000 })).status).toBe("Completed");
    // the aborted call and the retaken one add nothing more
    expect(parseExposition((await scrape(server)).text).get("stepwise_lease_expiries_total")).toBe(1);
  });

  it("a failing store shows as stepwise_store_up 0, not a failed scrape", async () => {
    const { engine, server } = await setup();
    const original = engine.store.queueStats;
    (engine.store as { queueStats: typeof original }).queueStats = async () => {
      throw new Error("database is down");
    };
    const { res, text } = await scrape(server);
    expect(res.status).toBe(200);
    const m = parseExposition(text);
    expect(m.get("stepwise_store_up")).toBe(0);
    expect(m.has("stepwise_queue_depth")).toBe(true);
  });
});
