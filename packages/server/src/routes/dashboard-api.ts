/**
 * @module dashboard-api
 * The endpoints the dashboard needs beyond the Inngest REST shapes: functions with their
 * config and recent counts, per-function charts, the stuck-or-slow view, invoke, pause and
 * resume, rerun (from a step, with new data), bulk cancel and replay (background replay
 * jobs with progress), and a live stream of activity (server-sent events). All bodies are `{ data: … }`.
 */
import type { RunStatus } from "@stepwise/engine";
import { StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ServerContext } from "./context.ts";
import { bulkBody, invokeBody, parse, readJson, replayBody, rerunBody, signalBody, statsQuery, stuckQuery } from "./schemas.ts";
import { replayToJson, stuckRunToJson } from "./serializers.ts";
import { aggregateStats, durationSample, statRanges } from "./stats.ts";

function bulkFilter(value: unknown) {
  const body = parse(bulkBody, value);
  return {
    functionId: body.function_id,
    ...(body.status ? { status: body.status as RunStatus } : {}),
    ...(body.from !== undefined ? { from: body.from } : {}),
    ...(body.to !== undefined ? { to: body.to } : {}),
  };
}

export function dashboardRoutes(ctx: ServerContext) {
  const app = new Hono();
  const { engine } = ctx;

  app.get("/v1/functions", async (c) => {
    const since = Date.now() - 24 * 60 * 60 * 1000;
    const paused = await engine.pausedFunctions();
    const data = await Promise.all(
      engine.functions().map(async (fn) => ({
        id: fn.config.id,
        slug: fn.config.slug,
        name: fn.config.name,
        app_id: fn.config.appId,
        triggers: fn.config.triggers,
        config: fn.config,
        paused: paused.has(fn.config.id),
        last_24h: await engine.store.countRuns({ functionId: fn.config.id, since }),
      })),
    );
    return c.json({ data: data.sort((a, b) => a.id.localeCompare(b.id)) });
  });

  app.post("/v1/functions/:id/invoke", async (c) => {
    const body = parse(invokeBody, await readJson(c.req, {}));
    const { runId, eventId } = await engine.invoke(c.req.param("id"), (body.data ?? {}) as Record<string, unknown>);
    return c.json({ data: { run_id: runId, event_id: eventId } });
  });

  app.post("/v1/functions/:id/pause", async (c) => {
    await engine.pause(c.req.param("id"));
    return c.json({ data: { id: c.req.param("id"), paused: true } });
  });

  app.post("/v1/functions/:id/resume", async (c) => {
    await engine.resume(c.req.param("id"));
    return c.json({ data: { id: c.req.param("id"), paused: false } });
  });

  app.post("/v1/signals", async (c) => {
    const body = parse(signalBody, await readJson(c.req, {}));
    const { runId } = await engine.sendSignal(body.signal, body.data ?? null);
    return c.json({ data: { run_id: runId } });
  });

  app.get("/v1/functions/:id/stats", async (c) => {
    const id = c.req.param("id");
    const { range = "1h" } = parse(statsQuery, c.req.query());
    if (!engine.functions().some((fn) => fn.config.id === id)) throw new StepwiseError("not_found", `no function "${id}" is registered`);
    const now = Date.now();
    const { rangeMs, bucketMs } = statRanges[range];
    const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const stats = await engine.store.runStats({ functionId: id, from: to - rangeMs, to, bucketMs, durationLimit: durationSample });
    return c.json({ data: { function_id: id, ...aggregateStats(stats, range, now) } });
  });

  app.get("/v1/stuck", async (c) => {
    const { limit = 20 } = parse(stuckQuery, c.req.query());
    const { queue, queued, running } = await engine.stuckRuns(limit);
    return c.json({
      data: {
        now: new Date().toISOString(),
        queue: {
          due: queue.due,
          leased: queue.leased,
          oldest_due_at: queue.oldestDueAt === null ? null : new Date(queue.oldestDueAt).toISOString(),
          waiting: queue.waiting,
        },
        queued: queued.map(stuckRunToJson),
        running: running.map(stuckRunToJson),
      },
    });
  });

  app.post("/v1/runs/:id/rerun", async (c) => {
    const body = parse(rerunBody, await readJson(c.req, {}));
    const runId = await engine.rerun(c.req.param("id"), {
      ...(body.from_step !== undefined ? { fromStep: body.from_step } : {}),
      ...(body.data !== undefined ? { data: body.data } : {}),
    });
    return c.json({ data: { run_id: runId, rerun_of: c.req.param("id"), from_step: body.from_step ?? null } });
  });

  app.post("/v1/replays", async (c) => {
    const body = parse(replayBody, await readJson(c.req, {}));
    const statuses = (body.statuses ?? (body.status ? [body.status] : undefined)) as RunStatus[] | undefined;
    const job = await engine.startReplay({
      functionId: body.function_id,
      ...(statuses ? { statuses } : {}),
      ...(body.from !== undefined ? { from: body.from } : {}),
      ...(body.to !== undefined ? { to: body.to } : {}),
    });
    return c.json({ data: replayToJson(job) }, 202);
  });

  app.get("/v1/replays", async (c) => c.json({ data: (await engine.listReplays(50)).map(replayToJson) }));

  app.get("/v1/replays/:id", async (c) => {
    const job = await engine.getReplay(c.req.param("id"));
    if (!job) throw new StepwiseError("not_found", `no replay with id ${c.req.param("id")}`);
    return c.json({ data: replayToJson(job) });
  });

  app.post("/v1/replays/:id/resume", async (c) => c.json({ data: replayToJson(await engine.resumeReplay(c.req.param("id"))) }));

  app.post("/v1/runs/cancel", async (c) => c.json({ data: { cancelled: await engine.cancelRuns(bulkFilter(await readJson(c.req, {}))) } }));

  app.post("/v1/runs/replay", async (c) => c.json({ data: { run_ids: await engine.replayRuns(bulkFilter(await readJson(c.req, {}))) } }));

  app.get("/v1/stream", (c) =>
    streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      const push = (activity: unknown) => {
        queue.push(JSON.stringify(activity));
        wake?.();
      };
      const offLocal = engine.onActivity(push);
      // other nodes on the same database: their activity shows up in the store
      const offCluster = await watchRecentRuns(engine, push, ctx.clusterPollMs ?? 1_000);
      const off = () => {
        offLocal();
        offCluster();
      };
      stream.onAbort(() => {
        off();
        wake?.();
      });
      await stream.writeSSE({ event: "ready", data: "{}" });
      while (!stream.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 15_000).unref();
          });
          wake = undefined;
          if (queue.length === 0 && !stream.aborted) await stream.writeSSE({ event: "ping", data: "{}" });
          continue;
        }
        await stream.writeSSE({ event: "activity", data: queue.shift() as string });
      }
      off();
    }),
  );
  return app;
}

/**
 * Reports runs created, started or ended anywhere (another node included) by comparing
 * the newest runs in the store every `everyMs` with what it saw before:
 * `{ kind: "run.changed", runId, status }`. Resolves once the first look is taken.
 */
async function watchRecentRuns(engine: ServerContext["engine"], push: (activity: unknown) => void, everyMs: number): Promise<() => void> {
  const look = async () => new Map((await engine.store.listRuns({ limit: 50 })).map((r) => [r.id, r.status as string]));
  let seen = await look().catch(() => new Map<string, string>());
  let polling = false;
  const timer = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      const now = await look();
      for (const [runId, status] of now) if (seen.get(runId) !== status) push({ kind: "run.changed", runId, status });
      seen = now;
    } catch {
      // the store is unreachable for now: the next tick tries again
    } finally {
      polling = false;
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
