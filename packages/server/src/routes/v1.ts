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
import { eventsQuery, parse, readJson, runsQuery, syncBody } from "./schemas.ts";
import { eventToJson, runDetailsToJson, runToJson } from "./serializers.ts";

export function v1Routes(ctx: ServerContext) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  app.get("/v1/events", async (c) => {
    const { name, cursor: before, limit } = parse(eventsQuery, c.req.query());
    const events = await ctx.engine.store.listEvents({ limit: limit ?? 50, ...(name ? { name } : {}), ...(before ? { before } : {}) });
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
    const { status, function_id: functionId, event_id: eventId, parent_run_id: parentRunId, cursor: before, from, to, limit } = parse(runsQuery, c.req.query());
    const runs = await ctx.engine.listRuns({
      limit: limit ?? 50,
      ...(status ? { status: status as RunStatus } : {}),
      ...(functionId ? { functionId } : {}),
      ...(eventId ? { eventId } : {}),
      ...(parentRunId ? { parentRunId } : {}),
      ...(before ? { before } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
    });
    return c.json({ data: runs.map(runToJson), cursor: runs.at(-1)?.id ?? null });
  });

  app.get("/v1/runs/:runId", async (c) => {
    const run = await ctx.engine.getRun(c.req.param("runId"));
    if (!run) throw new StepwiseError("not_found", `no run with id ${c.req.param("runId")}`);
    return c.json({ data: runDetailsToJson(run, await ctx.engine.listRuns({ parentRunId: run.id, limit: 100 })) });
  });

  app.delete("/v1/runs/:runId", async (c) => {
    const run = await ctx.engine.cancelRun(c.req.param("runId"));
    return c.json({ data: runDetailsToJson(run) });
  });

  app.get("/v1/apps", (c) => c.json({ data: ctx.apps.list() }));
  app.post("/v1/apps/sync", async (c) => {
    const { url } = parse(syncBody, await readJson(c.req, {}));
    return c.json({ data: await ctx.apps.sync(url) });
  });
  return app;
}
