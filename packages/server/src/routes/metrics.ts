/**
 * @module routes/metrics
 * `GET /metrics`: Prometheus text exposition through prom-client. `createMetrics()` makes
 * the registry and the `EngineMetrics` hooks the engine calls (pass `hooks` as
 * `EngineOptions.metrics`); queue gauges are read from the store on each scrape.
 * Run counters follow Inngest's names (`…_function_run_started_total`, `…_ended_total`,
 * labels `fn` and `status`) under the `stepwise_` prefix.
 */
import type { Engine, EngineMetrics } from "@stepwise/engine";
import type { Logger } from "@stepwise/protocol";
import { Hono } from "hono";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** A Prometheus registry and the engine hooks that feed it. */
export interface StepwiseMetrics {
  registry: Registry;
  /** Pass as `EngineOptions.metrics`. */
  hooks: EngineMetrics;
  /** Reads the store-backed gauges from `engine` on each scrape (done by `createServer`). */
  bindEngine(engine: Engine, logger: Logger): void;
}

/** Seconds buckets for step durations: 5 ms to 5 min. */
const stepBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds buckets for store writes: 0.1 ms to 2.5 s. */
const storeBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Creates the metrics of one Stepwise node on a registry of its own (several servers in
 * one process share no counters), with Node's default process metrics unless
 * `defaultMetrics: false`.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): StepwiseMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const runStarted = new Counter({
    name: "stepwise_function_run_started_total",
    help: "Function runs started on this node (their first call claimed)",
    labelNames: ["fn"],
    registers,
  });
  const runEnded = new Counter({
    name: "stepwise_function_run_ended_total",
    help: "Function runs ended on this node, by status (Completed, Failed, Cancelled)",
    labelNames: ["fn", "status"],
    registers,
  });
  const stepDuration = new Histogram({
    name: "stepwise_step_duration_seconds",
    help: "How long each step ran, by function",
    labelNames: ["fn"],
    buckets: stepBuckets,
    registers,
  });
  const leaseExpiries = new Counter({
    name: "stepwise_lease_expiries_total",
    help: "Calls in flight on this node whose lease expired and was taken over by another worker",
    registers,
  });
  const eventsStored = new Counter({ name: "stepwise_events_stored_total", help: "Events stored (sent, invoked, or emitted by steps)", registers });
  const flowWaits = new Counter({
    name: "stepwise_flow_control_waits_total",
    help: "Runs put in a flow-control wait at intake, by waitingOn.kind",
    labelNames: ["kind"],
    registers,
  });
  const storeWrite = new Histogram({
    name: "stepwise_store_write_duration_seconds",
    help: "Latency of the engine's store writes (commits), by Store method",
    labelNames: ["operation"],
    buckets: storeBuckets,
    registers,
  });
  const retentionDeleted = new Counter({
    name: "stepwise_retention_deleted_total",
    help: "Rows deleted by retention on this node, by kind (runs, steps, pauses, events, flow_state, idempotency_keys)",
    labelNames: ["kind"],
    registers,
  });

  let engine: Engine | undefined;
  let log: Logger | undefined;
  let stats: Promise<Awaited<ReturnType<Engine["store"]["queueStats"]>> | undefined> | undefined;
  /** One store read per scrape, shared by the gauges that need it. */
  const readStats = () => {
    stats ??= (async () => {
      try {
        return engine ? await engine.store.queueStats(Date.now()) : undefined;
      } catch (error) {
        log?.warn(`stepwise: reading queue stats for /metrics failed: ${(error as Error).message}`);
        return undefined;
      } finally {
        setImmediate(() => {
          stats = undefined;
        });
      }
    })();
    return stats;
  };
  new Gauge({
    name: "stepwise_store_up",
    help: "1 when the store answered this scrape's queries, 0 when it did not",
    registers,
    async collect() {
      this.set((await readStats()) ? 1 : 0);
    },
  });
  new Gauge({
    name: "stepwise_queue_depth",
    help: "Queue items due and not leased: work waiting for a worker (all nodes)",
    registers,
    async collect() {
      const s = await readStats();
      if (s) this.set(s.due);
    },
  });
  new Gauge({
    name: "stepwise_queue_leased",
    help: "Queue items leased by a worker now: calls in flight (all nodes)",
    registers,
    async collect() {
      const s = await readStats();
      if (s) this.set(s.leased);
    },
  });
  new Gauge({
    name: "stepwise_queue_oldest_due_age_seconds",
    help: "How long the oldest due, unleased queue item has been due (0 when none is)",
    registers,
    async collect() {
      const s = await readStats();
      if (s) this.set(s.oldestDueAt === null ? 0 : Math.max(0, (Date.now() - s.oldestDueAt) / 1000));
    },
  });
  new Gauge({
    name: "stepwise_runs_waiting",
    help: "Queued runs held by flow control now, by waitingOn.kind (all nodes)",
    labelNames: ["kind"],
    registers,
    async collect() {
      const s = await readStats();
      if (!s) return;
      this.reset();
      for (const kind of ["throttle", "debounce", "batch", "scheduled"]) this.set({ kind }, s.waiting[kind] ?? 0);
      for (const [kind, n] of Object.entries(s.waiting)) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: "stepwise_calls_in_flight",
    help: "Calls running on this node now",
    registers,
    collect() {
      if (engine) this.set(engine.inflightCalls);
    },
  });
  new Gauge({
    name: "stepwise_draining",
    help: "1 while this node drains (claims no new work), else 0",
    registers,
    collect() {
      this.set(engine?.draining ? 1 : 0);
    },
  });

  const hooks: EngineMetrics = {
    runStarted: (fn) => runStarted.inc({ fn }),
    runEnded: (fn, status) => runEnded.inc({ fn, status }),
    stepDuration: (fn, seconds) => stepDuration.observe({ fn }, seconds),
    leaseExpired: () => leaseExpiries.inc(),
    eventsStored: (count) => eventsStored.inc(count),
    flowControlWait: (kind) => flowWaits.inc({ kind }),
    storeWrite: (operation, seconds) => storeWrite.observe({ operation }, seconds),
    retentionDeleted: (kind, count) => retentionDeleted.inc({ kind }, count),
  };
  return {
    registry,
    hooks,
    bindEngine(e, logger) {
      engine = e;
      log = logger;
    },
  };
}

/** `GET /metrics`: the registry in Prometheus text format. */
export function metricsRoutes(metrics: StepwiseMetrics, logger: Logger) {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    try {
      const text = await metrics.registry.metrics();
      return c.body(text, 200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
    } catch (error) {
      logger.error(`stepwise: /metrics failed: ${(error as Error).message}`);
      return c.json({ error: "collecting metrics failed", code: "unavailable", status: 503 }, 503);
    }
  });
  return app;
}
