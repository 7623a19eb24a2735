/**
 * @module metadata
 * Run metadata and scores over the REST API:
 * - `POST /v1/runs/:runId/metadata` `{ target?: { run_id, step_id?, step_index?, step_attempt?, span_id? }, metadata: [{ kind, op, values }] }`,
 *   as the official SDK's `inngest.metadata…set()` and `inngest.score()` send it outside a step
 *   (`op` "set" replaces a kind's values, "merge" merges them in; scores are kind
 *   `inngest.score`, `{ [name]: { value: number | boolean } }`). Answers the run's metadata.
 * - `GET /v1/runs/:runId/metadata`: `{ data: { run, steps, scores } }`.
 * Behind the same credentials as the rest of `/v1`; an unknown run is a 404.
 */
import { StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { z } from "zod";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";
import { parse, readJson } from "./schemas.ts";
import { metadataToJson } from "./serializers.ts";

const id = z.string({ error: "expected a non-empty string" }).min(1, "expected a non-empty string");
const count = z.number({ error: "expected a non-negative integer" }).int("expected a non-negative integer").min(0, "expected a non-negative integer");

export const metadataBody = z.object(
  {
    target: z
      .object(
        { run_id: id, step_id: id.optional(), step_index: count.optional(), step_attempt: count.optional(), span_id: id.optional() },
        { error: "expected an object" },
      )
      .optional(),
    metadata: z
      .array(
        z.object(
          {
            kind: id,
            op: z.enum(["set", "merge"], { error: 'expected "set" or "merge"' }),
            values: z.record(z.string(), z.unknown(), { error: "expected an object" }),
          },
          { error: "expected { kind, op, values }" },
        ),
        { error: "expected an array of { kind, op, values }" },
      )
      .min(1, "expected at least one update")
      .max(100, "expected at most 100 updates"),
  },
  { error: "expected a JSON object" },
);

export function metadataRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  app.post("/v1/runs/:runId/metadata", async (c) => {
    const runId = c.req.param("runId");
    const { target, metadata } = parse(metadataBody, await readJson(c.req));
    if (target && target.run_id !== runId) {
      throw new StepwiseError("invalid_argument", `target.run_id: ${JSON.stringify(target.run_id)} is not the run in the path (${JSON.stringify(runId)})`);
    }
    const { run_id: _r, ...where } = target ?? { run_id: runId };
    await ctx.engine.addRunMetadata(runId, metadata, where);
    return c.json({ data: metadataToJson(await ctx.engine.runMetadata(runId)) });
  });

  app.get("/v1/runs/:runId/metadata", async (c) => {
    const metadata = await ctx.engine.runMetadata(c.req.param("runId"));
    if (!metadata) throw new StepwiseError("not_found", `no run with id ${c.req.param("runId")}`);
    return c.json({ data: metadataToJson(metadata) });
  });
  return app;
}
