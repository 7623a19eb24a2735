/**
 * @module v0
 * The SDK-facing run API used when a call request was too large to send (`use_api`,
 * inngest-protocol §8.9): a run's events and its memoized steps. A durable endpoint's
 * re-entry always reads them here: while one is in flight on this node, its steps are
 * the ones the engine gave that call.
 */
import { abandonedError, StepStatus } from "@stepwise/engine";
import { Hono } from "hono";
import type { ServerContext } from "./context.ts";

export function v0Routes(ctx: ServerContext) {
  const app = new Hono();
  app.get("/v0/runs/:runId/batch", async (c) => {
    const state = await ctx.engine.store.loadRunState(c.req.param("runId"));
    if (!state) return c.json({ error: `no run with id ${c.req.param("runId")}`, status: 404 }, 404);
    return c.json(state.events);
  });
  app.get("/v0/runs/:runId/actions", async (c) => {
    const inFlight = ctx.endpoints?.memoOf(c.req.param("runId"));
    if (inFlight) return c.json(Object.fromEntries(inFlight));
    const state = await ctx.engine.store.loadRunState(c.req.param("runId"));
    if (!state) return c.json({ error: `no run with id ${c.req.param("runId")}`, status: 404 }, 404);
    const memo: Record<string, unknown> = {};
    for (const step of state.steps) {
      if (step.status === StepStatus.Completed) memo[step.id] = { data: step.output ?? null };
      else if (step.status === StepStatus.Failed && step.error) memo[step.id] = { error: step.error };
    }
    // abandoned race branches last, as in a call's stack
    for (const step of state.steps) if (step.status === StepStatus.Abandoned) memo[step.id] = { error: abandonedError(step.name) };
    return c.json(memo);
  });
  return app;
}
