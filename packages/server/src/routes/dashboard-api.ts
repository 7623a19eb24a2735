/**
 * @module dashboard-api
 * The endpoints the dashboard needs beyond the Inngest REST shapes: functions with their
 * config and recent counts, invoke, pause and resume, rerun, bulk cancel and replay, and a
 * live stream of activity (server-sent events). All bodies are `{ data: … }`.
 */
import type { RunStatus } from "@stepwise/engine";
import { StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ServerContext } from "./context.ts";

const statuses = new Set(["Queued", "Running", "Completed", "Failed", "Cancelled", "Skipped"]);

interface BulkBody {
  function_id?: string;
  status?: string;
  from?: string | number;
  to?: string | number;
}

function instant(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new StepwiseError("invalid_argument", `${field}: expected an ISO date or unix ms, received ${JSON.stringify(value)}`);
  return ms;
}

function bulkFilter(body: BulkBody) {
  if (typeof body.function_id !== "string" || body.function_id === "") throw new StepwiseError("invalid_argument", "function_id is required");
  if (body.status !== undefined && !statuses.has(body.status))
    throw new StepwiseError("invalid_argument", `status: expected one of ${[...statuses].join(", ")}, received ${JSON.stringify(body.status)}`);
  const from = instant(body.from, "from");
  const to = instant(body.to, "to");
  return {
    functionId: body.function_id,
    ...(body.status ? { status: body.status as RunStatus } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
  };
}

async function jsonBody<T>(c: { req: { text(): Promise<string> } }): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === "") return {} as T;
  return JSON.parse(text) as T;
}

export function dashboardRoutes(ctx: ServerContext) {
  const app = new Hono();
  const { engine } = ctx;

  app.get("/v1/functions", async (c) => {
    const since = Date.now() - 24 * 60 * 60 * 1000;
    const data = await Promise.all(
      engine.functions().map(async (fn) => ({
        id: fn.config.id,
        slug: fn.config.slug,
        name: fn.config.name,
        app_id: fn.config.appId,
        triggers: fn.config.triggers,
        config: fn.config,
        paused: engine.isPaused(fn.config.id),
        last_24h: await engine.store.countRuns({ functionId: fn.config.id, since }),
      })),
    );
    return c.json({ data: data.sort((a, b) => a.id.localeCompare(b.id)) });
  });

  app.post("/v1/functions/:id/invoke", async (c) => {
    const body = await jsonBody<{ data?: unknown }>(c);
    if (body.data !== undefined && (typeof body.data !== "object" || body.data === null || Array.isArray(body.data))) {
      throw new StepwiseError("invalid_argument", `data: expected an object, received ${JSON.stringify(body.data)}`);
    }
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
    const body = await jsonBody<{ signal?: unknown; data?: unknown }>(c);
    if (typeof body.signal !== "string" || body.signal === "") throw new StepwiseError("invalid_argument", "signal: expected a non-empty string");
    const { runId } = await engine.sendSignal(body.signal, body.data ?? null);
    return c.json({ data: { run_id: runId } });
  });

  app.post("/v1/runs/:id/rerun", async (c) => c.json({ data: { run_id: await engine.rerun(c.req.param("id")) } }));

  app.post("/v1/runs/cancel", async (c) => c.json({ data: { cancelled: await engine.cancelRuns(bulkFilter(await jsonBody<BulkBody>(c))) } }));

  app.post("/v1/runs/replay", async (c) => c.json({ data: { run_ids: await engine.replayRuns(bulkFilter(await jsonBody<BulkBody>(c))) } }));

  app.get("/v1/stream", (c) =>
    streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      const off = engine.onActivity((activity) => {
        queue.push(JSON.stringify(activity));
        wake?.();
      });
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
