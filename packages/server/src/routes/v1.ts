/**
 * @module v1
 * The REST API (Inngest v1 shapes, every body `{ data: … }`): events, the runs an event
 * started, a run with its steps, and cancelling a run.
 */
import type { RunStatus } from "@stepwise/engine";
import { StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";
import { eventToJson, runDetailsToJson, runToJson } from "./serializers.ts";

const statuses = new Set(["Queued", "Running", "Completed", "Failed", "Cancelled", "Skipped"]);

function timeQuery(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new StepwiseError("invalid_argument", `${field}: expected an ISO date or unix ms, received ${JSON.stringify(value)}`);
  return ms;
}

function limitOf(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new StepwiseError("invalid_argument", `limit: expected an integer from 1 to 1000, received ${JSON.stringify(value)}`);
  return n;
}

export function v1Routes(ctx: ServerContext) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  app.get("/v1/events", async (c) => {
    const name = c.req.query("name");
    const before = c.req.query("cursor");
    const events = await ctx.engine.store.listEvents({ limit: limitOf(c.req.query("limit"), 50), ...(name ? { name } : {}), ...(before ? { before } : {}) });
    return c.json({ data: events.map(eventToJson), cursor: events.at(-1)?.internalId ?? null });
  });

  app.get("/v1/events/:eventId", async (c) => {
    const event = await ctx.engine.store.getEvent(c.req.param("eventId"));
    if (!event) throw new StepwiseError("not_found", `no event with id ${c.req.param("eventId")}`);
    const runs = await ctx.engine.listRuns({ eventId: event.internalId });
    return c.json({ data: { ...eventToJson(event), runs: runs.map(runToJson), outcome: (await ctx.engine.eventOutcome(event)) ?? null } });
  });

  app.get("/v1/events/:eventId/runs", async (c) => {
    const runs = await ctx.engine.listRuns({ eventId: c.req.param("eventId") });
    return c.json({ data: runs.map(runToJson) });
  });

  app.get("/v1/runs", async (c) => {
    const status = c.req.query("status");
    if (status !== undefined && !statuses.has(status))
      throw new StepwiseError("invalid_argument", `status: expected one of ${[...statuses].join(", ")}, received ${JSON.stringify(status)}`);
    const functionId = c.req.query("function_id");
    const eventId = c.req.query("event_id");
    const before = c.req.query("cursor");
    const from = timeQuery(c.req.query("from"), "from");
    const to = timeQuery(c.req.query("to"), "to");
    const runs = await ctx.engine.listRuns({
      limit: limitOf(c.req.query("limit"), 50),
      ...(status ? { status: status as RunStatus } : {}),
      ...(functionId ? { functionId } : {}),
      ...(eventId ? { eventId } : {}),
      ...(before ? { before } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
    });
    return c.json({ data: runs.map(runToJson), cursor: runs.at(-1)?.id ?? null });
  });

  app.get("/v1/runs/:runId", async (c) => {
    const run = await ctx.engine.getRun(c.req.param("runId"));
    if (!run) throw new StepwiseError("not_found", `no run with id ${c.req.param("runId")}`);
    return c.json({ data: runDetailsToJson(run) });
  });

  app.delete("/v1/runs/:runId", async (c) => {
    const run = await ctx.engine.cancelRun(c.req.param("runId"));
    return c.json({ data: runDetailsToJson(run) });
  });

  app.get("/v1/apps", (c) => c.json({ data: ctx.apps.list() }));
  app.post("/v1/apps/sync", async (c) => {
    const { url } = (await c.req.json().catch(() => ({}))) as { url?: string };
    if (typeof url !== "string" || !/^https?:\/\//.test(url))
      throw new StepwiseError("invalid_argument", `url: expected the app's http(s) serve URL, received ${JSON.stringify(url)}`);
    return c.json({ data: await ctx.apps.sync(url) });
  });
  return app;
}
