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
 * - Durable endpoints (`inngest.endpoint()`, §10.5; the app runs the function in an HTTP
 *   request of its own and reports): `POST /v1/checkpoint` starts the run with its
 *   `inngest/http.request` event and first steps, `POST /v1/checkpoint/{runId}/steps`
 *   adds steps and, with `RunComplete`, ends it; `GET /v1/http/runs/{runId}/output?token=`
 *   answers the run's output to the SDK's proxy (`token` is the per-run read token
 *   `POST /v1/checkpoint` returned, an HMAC of the run id, never a server key).
 *
 * Authentication is the `/v1` one (the signing key's hashed bearer in start mode).
 */
import { createHmac, randomBytes } from "node:crypto";
import { type Op, type OpCode, StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { z } from "zod";
import { safeEqual } from "../auth/secrets.ts";
import { endpointAppId, endpointFunctionPrefix } from "../driver/endpoint-function.ts";
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
  metadata: z
    .array(z.object({ kind: z.string(), scope: z.string().optional(), op: z.enum(["set", "merge"]), values: z.record(z.string(), z.unknown()) }))
    .nullish(),
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

/** `POST /v1/checkpoint`, as the SDK's `checkpointNewRun` sends it. */
export const newRunBody = z.object({
  run_id: z.string().regex(/^[0-9A-Za-z_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'"),
  event: z.object({
    name: z.string().min(1, "is empty"),
    data: z.record(z.string(), z.unknown()).optional(),
    id: z.string().optional(),
    ts: z.number().optional(),
  }),
  steps: z.array(checkpointOp).default([]),
  ts: z.number().optional(),
  request_version: z.number().int().optional(),
  retries: z.number().int().optional(),
});

/** `POST /v1/checkpoint/{runId}/steps`, as the SDK's `checkpointSteps` sends it. */
export const syncStepsBody = z.object({
  run_id: z.string().min(1, "is empty"),
  fn_id: z.string().optional(),
  app_id: z.string().optional(),
  steps: z.array(checkpointOp),
  ts: z.number().optional(),
});

/** The function a durable endpoint's run belongs to: `endpoint ` and the SDK's function id, else its method and path. */
function endpointFunctionId(data: Record<string, unknown> | undefined): string {
  if (typeof data?.fn === "string" && data.fn !== "") return `${endpointFunctionPrefix}${data.fn}`;
  const method = typeof data?.method === "string" ? data.method : "GET";
  const path = typeof data?.path === "string" ? data.path : "/";
  return `${endpointFunctionPrefix}${method} ${path}`;
}

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
  if (raw.metadata?.length) op.metadata = raw.metadata;
  return op;
}

export function checkpointRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  // the per-run read token: keyed by the signing key (start) or a key of this process (dev)
  const tokenKey = ctx.signingKeys[0] ?? randomBytes(32).toString("hex");
  const tokenFor = (runId: string) => createHmac("sha256", tokenKey).update(`run-output:${runId}`).digest("base64url");

  app.post("/v1/checkpoint", async (c) => {
    const body = parse(newRunBody, await readJson(c.req));
    const functionId = endpointFunctionId(body.event.data);
    ctx.endpoints?.started(functionId, body.retries);
    await ctx.engine.startSyncRun({ runId: body.run_id, functionId, event: body.event, ops: body.steps.map(toOp) });
    const token = tokenFor(body.run_id);
    return c.json({ data: { fn_id: functionId, app_id: endpointAppId, run_id: body.run_id, token, realtime_token: token } });
  });

  app.post("/v1/checkpoint/:runId/steps", async (c) => {
    const body = parse(syncStepsBody, await readJson(c.req));
    const runId = c.req.param("runId");
    if (body.run_id !== runId)
      return c.json({ error: `run_id: ${body.run_id} is not the run in the path (${runId})`, code: "invalid_argument", status: 400 }, 400);
    await ctx.engine.checkpointSyncRun(runId, body.steps.map(toOp));
    return c.json({});
  });

  app.get("/v1/http/runs/:runId/output", async (c) => {
    const runId = c.req.param("runId");
    const token = c.req.query("token");
    if (!token) return c.json({ error: "token: missing (the run's token from POST /v1/checkpoint)", code: "invalid_argument", status: 400 }, 400);
    if (!safeEqual(token, tokenFor(runId))) return c.json({ error: "token: not this run's token", code: "unauthorized", status: 401 }, 401);
    const run = await ctx.engine.getRun(runId);
    if (!run) throw new StepwiseError("not_found", `no run with id ${runId}`);
    if (run.status === "Completed") return c.json(run.output ?? null);
    if (run.status === "Failed" || run.status === "Cancelled") return c.json({ error: run.error?.message ?? run.status, status: run.status }, 500);
    return c.json({ status: run.status }, 202);
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
