/**
 * `POST /v0/gql`, the dev server's GraphQL subset that the official SDK's integration
 * harness reads runs through: a run, its trace (one span per step, with metadata), a
 * span's output, an event; bad documents get a 400, start mode needs the signing key.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { NonRetriableError, Stepwise } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";

const signingKey = "signkey-test-0123456789abcdef";
// biome-ignore lint/suspicious/noExplicitAny: the tests read GraphQL answers by path and assert on them
type Loose = any;
const engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(mode: "dev" | "start" = "dev") {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-gql-"));
  dirs.push(dir);
  const store = new SqliteStore({ filename: join(dir, "gql.db") });
  await store.migrate();
  const engine = createEngine({ store, logger: silentLogger, retryDelayScale: 0.01 });
  engines.push(engine);
  const c = new Stepwise({ id: "gql", logger: silentLogger });
  const ask = c.createFunction({ id: "ask" }, { event: "gql/ask" }, async ({ step }) => {
    const answer = await step.run("ask-model", async () => {
      await c.metadata.set({ request_model: "gpt-4o-mini", input_tokens: 1_000_000, output_tokens: 0 }, "ai" as never);
      return { text: "42" };
    });
    await step.score("rate", { name: "quality", value: 0.5 });
    return answer.text;
  });
  const broken = c.createFunction({ id: "broken", retries: 0 }, { event: "gql/broken" }, async ({ step }) =>
    step.run("explode", () => {
      throw new NonRetriableError("no luck");
    }),
  );
  engine.register({ client: c, functions: [ask, broken] });
  await engine.start();
  const server = createServer({ engine, logger: silentLogger, mode, ...(mode === "start" ? { signingKey, eventKey: "evt-key" } : {}) });
  const gql = async (query: unknown, variables?: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await server.app.request("/v0/gql", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof query === "string" ? JSON.stringify({ query, variables }) : JSON.stringify(query),
    });
    return { status: res.status, body: (await res.json()) as { data?: Record<string, Loose>; errors?: Array<{ message: string }>; error?: string } };
  };
  const runOf = async (name: string) => {
    const { ids } = await c.send({ name, data: { q: "life" } });
    const [run] = await engine.listRuns({ eventId: ids[0] as string });
    return { eventId: ids[0] as string, run: await engine.waitForRun(run!.id) };
  };
  return { engine, gql, runOf };
}

const traceQuery = `query Q($runID: String!) {
  run(runID: $runID) {
    id functionID status output
    trace(preview: true) {
      name status outputID metadata { scope kind values updatedAt }
      childrenSpans { name status stepOp stepID attempts outputID startedAt endedAt metadata { scope kind values } }
    }
  }
}`;

describe("POST /v0/gql", () => {
  it("reads a run, its trace with a span per step and their metadata, and each span's output", async () => {
    const { gql, runOf } = await setup();
    const { run } = await runOf("gql/ask");
    expect(run.status).toBe("Completed");
    const { status, body } = await gql(traceQuery, { runID: run.id });
    expect(status).toBe(200);
    const got = body.data?.run;
    expect(got).toMatchObject({ id: run.id, functionID: "gql-ask", status: "COMPLETED", output: JSON.stringify("42") });
    expect(got.trace.name).toBe("gql-ask");
    expect(got.trace.metadata).toEqual([
      { scope: "run", kind: "inngest.score", values: { quality: { value: 0.5 } }, updatedAt: expect.stringMatching(/^\d{4}-/) },
    ]);
    const steps = got.trace.childrenSpans as Array<Record<string, Loose>>;
    expect(steps.map((s) => [s.name, s.status, s.stepOp])).toEqual([
      ["ask-model", "COMPLETED", "StepRun"],
      ["rate", "COMPLETED", expect.any(String)],
    ]);
    expect(steps[0]?.metadata).toEqual([
      { scope: "step", kind: "userland.ai", values: { request_model: "gpt-4o-mini", input_tokens: 1_000_000, output_tokens: 0 } },
    ]);
    const out = await gql(`query { runTraceSpanOutputByID(outputID: ${JSON.stringify(steps[0]?.outputID)}) { data error { message } } }`);
    expect(out.body.data?.runTraceSpanOutputByID).toEqual({ data: JSON.stringify({ text: "42" }), error: null });
    const whole = await gql(`query { runTraceSpanOutputByID(outputID: ${JSON.stringify(got.trace.outputID)}) { data } }`);
    expect(whole.body.data?.runTraceSpanOutputByID).toEqual({ data: JSON.stringify("42") });
  });

  it("a failed step's output is its error; an unknown run is null; an event is readable by id", async () => {
    const { gql, runOf } = await setup();
    const { run, eventId } = await runOf("gql/broken");
    expect(run.status).toBe("Failed");
    const { body } = await gql(traceQuery, { runID: run.id });
    expect(body.data?.run.status).toBe("FAILED");
    const [step] = (body.data?.run.trace.childrenSpans ?? []) as Array<Record<string, Loose>>;
    expect(step).toMatchObject({ name: "explode", status: "FAILED" });
    const out = await gql(`query { runTraceSpanOutputByID(outputID: ${JSON.stringify(step?.outputID)}) { data error { name message } } }`);
    expect(out.body.data?.runTraceSpanOutputByID).toEqual({ data: null, error: { name: "NonRetriableError", message: "no luck" } });
    expect((await gql(traceQuery, { runID: "01NOSUCHRUN0000000000000000" })).body).toEqual({ data: { run: null } });
    const event = await gql(`query E($id: ULID!) { eventV2(id: $id) { name raw idempotencyKey } }`, { id: eventId });
    expect(event.body.data?.eventV2).toMatchObject({ name: "gql/broken", idempotencyKey: eventId });
    expect(JSON.parse(event.body.data?.eventV2.raw)).toMatchObject({ name: "gql/broken", data: { q: "life" } });
  });

  it("refuses what is not a GraphQL request with a 400 naming the problem, and never a 500", async () => {
    const { gql } = await setup();
    const cases: Array<[unknown, RegExp]> = [
      [{ query: "" }, /query.*expected a GraphQL document/],
      [{ variables: {} }, /query/],
      [[1, 2], /expected a JSON object/],
      [{ query: "query { run(runID: 5) { id } }" }, /String/],
      [{ query: "query { nope }" }, /Cannot query field .{1,3}nope/],
      [{ query: "{ run(" }, /Syntax Error/],
      [{ query: 'query { run(runID: "x") { id } }', variables: "no" }, /variables.*expected an object/],
      [{ query: 'query { runTraceSpanOutputByID(outputID: "!!") { data } }' }, /outputID/],
    ];
    for (const [request, message] of cases) {
      const { status, body } = await gql(request);
      const text = JSON.stringify(body);
      expect([status, text]).toEqual([expect.any(Number), expect.stringMatching(message)]);
      expect(status === 400 || (status === 200 && body.errors !== undefined)).toBe(true);
    }
  });

  it("in start mode needs the signing key, sent as a bearer token", async () => {
    const { gql } = await setup("start");
    const query = 'query { run(runID: "x") { id } }';
    expect((await gql(query)).status).toBe(401);
    const ok = await gql(query, undefined, { authorization: `Bearer ${hashSigningKey(signingKey)}` });
    expect(ok).toEqual({ status: 200, body: { data: { run: null } } });
  });
});
