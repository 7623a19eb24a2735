/**
 * @module checkpoint
 * The checkpoint API the official SDK calls while it runs a function (inngest-protocol §10):
 *
 * - `POST /v1/checkpoint/{runId}/async`: steps a served call ran in-process, posted while
 *   the call is still open. `qi_id` is the `callId` the server sent in the call's
 *   `ctx.qi_id` (the claimed queue item and its lease token); the ops are handed to
 *   `Engine.checkpoint`, which writes each step once, fenced by that lease. A checkpoint
 *   for a call that is over, lost its lease, or whose run was cancelled gets `409` and
 *   changes nothing (the SDK then abandons the call).
 *
 * Authentication is the `/v1` one (the signing key's hashed bearer in start mode).
 */
import type { Op, OpCode } from "@stepwise/protocol";
import { Hono } from "hono";
import { z } from "zod";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";
import { parse, readJson } from "./schemas.ts";

const serializedError = z.object({ name: z.string().optional(), message: z.string().optional() }).passthrough();

/** One checkpointed op. The SDK adds internal fields (`mode`, `rawArgs`, `promise`, …): only these are read. */
const checkpointOp = z.object({
  id: z.string().min(1, "is an empty step id"),
  op: z.string().min(1, "is an empty op code"),
  name: z.string().optional(),
  displayName: z.string().optional(),
  opts: z.record(z.string(), z.unknown()).nullish(),
  userland: z.object({ id: z.string(), index: z.number().int().optional() }).nullish(),
  data: z.unknown().optional(),
  error: serializedError.nullish(),
  timing: z.object({ a: z.number(), b: z.number() }).nullish(),
});

/** `POST /v1/checkpoint/{runId}/async`, as the SDK's `checkpointStepsAsync` sends it. */
export const asyncCheckpointBody = z.object({
  run_id: z.string().min(1, "is empty"),
  fn_id: z.string().min(1, "is empty"),
  qi_id: z.string().min(1, "is empty"),
  request_id: z.string().optional(),
  generation_id: z.number().int().optional(),
  request_started_at: z.number().optional(),
  steps: z.array(checkpointOp),
  ts: z.number().optional(),
});

/** An op as the engine reads it: only the protocol's fields. */
function toOp(raw: z.output<typeof checkpointOp>): Op {
  const op: Op = { id: raw.id, op: raw.op as OpCode };
  if (raw.name !== undefined) op.name = raw.name;
  if (raw.displayName !== undefined) op.displayName = raw.displayName;
  if (raw.opts) op.opts = raw.opts;
  if (raw.userland) op.userland = raw.userland.index !== undefined ? { id: raw.userland.id, index: raw.userland.index } : { id: raw.userland.id };
  if ("data" in raw) op.data = raw.data;
  if (raw.error) op.error = { ...raw.error, name: raw.error.name ?? "Error", message: raw.error.message ?? "" } as Op["error"] & object;
  if (raw.timing) op.timing = raw.timing;
  return op;
}

export function checkpointRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  app.post("/v1/checkpoint/:runId/async", async (c) => {
    const body = parse(asyncCheckpointBody, await readJson(c.req));
    const runId = c.req.param("runId");
    if (body.run_id !== runId)
      return c.json({ error: `run_id: ${body.run_id} is not the run in the path (${runId})`, code: "invalid_argument", status: 400 }, 400);
    await ctx.engine.checkpoint(runId, body.qi_id, body.steps.map(toOp));
    return c.json({});
  });
  return app;
}
