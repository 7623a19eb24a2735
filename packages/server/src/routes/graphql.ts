/**
 * @module graphql
 * `POST /v0/gql`: the part of the Inngest dev server's GraphQL API that tools read runs
 * through (the official SDK's integration-test harness among them), served from our
 * store. Read-only:
 * - `run(runID)`: `{ id, status, output, trace(preview) }`. The trace is the run's span
 *   with one child span per step: `name`, `status`, `stepID`, `spanID`, `outputID`,
 *   `stepOp`, `attempts`, `startedAt`, `endedAt`, `metadata { scope kind values updatedAt }`.
 * - `runTraceSpanOutputByID(outputID)`: `{ data, error { message name stack } }`, the
 *   run's or a step's result (`data` as JSON text).
 * - `eventV2(id)`: `{ id, name, raw, idempotencyKey, receivedAt }` (`raw` as JSON text).
 * Statuses are upper case as Inngest spells them (`COMPLETED`, `FAILED`, `RUNNING`, …).
 * Behind the same credentials as the rest of `/v0` in start mode.
 */
import { type RunDetails, RunStatus, type StepRecord, StepStatus } from "@stepwise/engine";
import type { SerializedError } from "@stepwise/protocol";
import { buildSchema, GraphQLError, graphql } from "graphql";
import { Hono } from "hono";
import { z } from "zod";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";
import { parse, readJson } from "./schemas.ts";

const schema = buildSchema(`
  scalar ULID
  scalar Time
  scalar Map

  type Query {
    run(runID: String!): FunctionRun
    runTraceSpanOutputByID(outputID: String!): RunTraceSpanOutput
    eventV2(id: ULID!): EventV2
  }

  type FunctionRun {
    id: String!
    functionID: String!
    status: String!
    output: String
    startedAt: Time
    endedAt: Time
    trace(preview: Boolean): RunTraceSpan
  }

  type RunTraceSpan {
    name: String!
    status: String!
    spanID: String!
    stepID: String
    stepOp: String
    outputID: String
    attempts: Int
    queuedAt: Time
    startedAt: Time
    endedAt: Time
    metadata: [SpanMetadata!]!
    childrenSpans: [RunTraceSpan!]!
  }

  type SpanMetadata {
    scope: String!
    kind: String!
    values: Map!
    updatedAt: Time!
  }

  type RunTraceSpanOutput {
    data: String
    error: StepError
  }

  type StepError {
    message: String!
    name: String
    stack: String
  }

  type EventV2 {
    id: ULID!
    name: String!
    raw: String!
    idempotencyKey: String
    receivedAt: Time!
  }
`);

const body = z.object(
  {
    query: z.string({ error: "expected a GraphQL document" }).min(1, "expected a GraphQL document").max(100_000, "expected at most 100,000 characters"),
    variables: z.record(z.string(), z.unknown(), { error: "expected an object" }).nullish(),
    operationName: z.string({ error: "expected a string" }).nullish(),
  },
  { error: "expected a JSON object { query, variables?, operationName? }" },
);

const runStatus: Record<RunStatus, string> = {
  [RunStatus.Queued]: "QUEUED",
  [RunStatus.Running]: "RUNNING",
  [RunStatus.Completed]: "COMPLETED",
  [RunStatus.Failed]: "FAILED",
  [RunStatus.Cancelled]: "CANCELLED",
  [RunStatus.Skipped]: "SKIPPED",
};

const stepStatus: Record<StepStatus, string> = {
  [StepStatus.Completed]: "COMPLETED",
  [StepStatus.Failed]: "FAILED",
  [StepStatus.Errored]: "RUNNING",
  [StepStatus.Planned]: "QUEUED",
  [StepStatus.Sleeping]: "WAITING",
  [StepStatus.Waiting]: "WAITING",
  [StepStatus.Abandoned]: "CANCELLED",
};

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** An output id names a run (and a step of it); opaque to clients. */
function outputId(runId: string, stepId?: string): string {
  return Buffer.from(JSON.stringify(stepId === undefined ? [runId] : [runId, stepId])).toString("base64url");
}

function readOutputId(id: string): { runId: string; stepId?: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(id, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) return undefined;
    const [runId, stepId, ...rest] = parsed as string[];
    if (runId === undefined || rest.length > 0) return undefined;
    return stepId === undefined ? { runId } : { runId, stepId };
  } catch {
    return undefined;
  }
}

function spanMetadata(scope: "run" | "step", byKind: Record<string, Record<string, unknown>> | undefined, at: Record<string, number> | undefined) {
  return Object.entries(byKind ?? {}).map(([kind, values]) => ({ scope, kind, values, updatedAt: iso(at?.[kind] ?? 0) }));
}

function stepSpan(run: RunDetails, step: StepRecord) {
  const ended = step.status === StepStatus.Completed || step.status === StepStatus.Failed;
  return {
    name: step.displayName ?? step.name,
    status: stepStatus[step.status] ?? "RUNNING",
    spanID: step.id,
    stepID: step.id,
    stepOp: step.op,
    outputID: ended ? outputId(run.id, step.id) : null,
    attempts: step.attempts,
    startedAt: iso(step.startedAt),
    endedAt: iso(step.endedAt),
    metadata: spanMetadata("step", run.metadata?.steps[step.name], run.metadata?.updatedAt.steps[step.name]),
    childrenSpans: [],
  };
}

function runSpan(run: RunDetails) {
  const ended = run.status === RunStatus.Completed || run.status === RunStatus.Failed || run.status === RunStatus.Cancelled;
  return {
    name: run.functionId,
    status: runStatus[run.status] ?? "RUNNING",
    spanID: run.id,
    stepID: null,
    stepOp: null,
    outputID: ended ? outputId(run.id) : null,
    attempts: null,
    queuedAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    metadata: spanMetadata("run", run.metadata?.run, run.metadata?.updatedAt.run),
    childrenSpans: run.steps.map((step) => stepSpan(run, step)),
  };
}

function output(data: unknown, error: SerializedError | undefined) {
  if (error) return { data: null, error: { message: error.message, name: error.name ?? null, stack: error.stack ?? null } };
  return { data: data === undefined ? null : JSON.stringify(data), error: null };
}

export function graphqlRoutes(ctx: ServerContext) {
  const root = {
    run: async ({ runID }: { runID: string }) => {
      const run = await ctx.engine.getRun(runID);
      if (!run) return null;
      return {
        id: run.id,
        functionID: run.functionId,
        status: runStatus[run.status] ?? "RUNNING",
        output: run.output === undefined ? null : JSON.stringify(run.output),
        startedAt: iso(run.startedAt),
        endedAt: iso(run.endedAt),
        trace: () => runSpan(run),
      };
    },
    runTraceSpanOutputByID: async ({ outputID }: { outputID: string }) => {
      const id = readOutputId(outputID);
      if (!id) throw new GraphQLError(`outputID: ${JSON.stringify(outputID)} is not an output id this server gave`);
      const run = await ctx.engine.getRun(id.runId);
      if (!run) return null;
      if (id.stepId === undefined) {
        if (run.status === RunStatus.Cancelled) return output(undefined, run.error ?? { name: "RunCancelled", message: "the run was cancelled" });
        return output(run.output, run.error);
      }
      const step = run.steps.find((s) => s.id === id.stepId);
      return step ? output(step.output, step.error) : null;
    },
    eventV2: async ({ id }: { id: string }) => {
      const event = await ctx.engine.store.getEvent(id);
      if (!event) return null;
      return {
        id: event.internalId,
        name: event.name,
        raw: JSON.stringify({ id: event.id, name: event.name, data: event.data, user: event.user, ts: event.ts, ...(event.v ? { v: event.v } : {}) }),
        idempotencyKey: event.id,
        receivedAt: iso(event.receivedAt),
      };
    },
  };

  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });
  app.post("/v0/gql", async (c) => {
    const { query, variables, operationName } = parse(body, await readJson(c.req));
    const result = await graphql({
      schema,
      source: query,
      rootValue: root,
      ...(variables ? { variableValues: variables } : {}),
      ...(operationName ? { operationName } : {}),
    });
    // a document that does not parse or validate executes nothing: 400, as GraphQL over HTTP says
    if (!result.data && result.errors?.length) return c.json({ errors: result.errors.map((e) => ({ message: e.message })) }, 400);
    return c.json(result);
  });
  return app;
}
