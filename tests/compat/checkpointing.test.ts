/**
 * Async checkpointing with the official `inngest` SDK (v4) as the client: the server's
 * calls carry `ctx.fn_id`/`ctx.qi_id`, the SDK runs step after step in one request and
 * posts each to `POST /v1/checkpoint/{runId}/async`, fenced by the call's lease. Every
 * request the app gets, and every checkpoint it posts, is recorded to count round trips.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { Readable } from "node:stream";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;

/** What the app received: one entry per call (POST). */
interface Call {
  fnId: string;
  stepId: string | null;
  headers: Record<string, string>;
  body: { ctx?: { run_id: string; fn_id?: string; qi_id?: string; attempt: number; disable_immediate_execution?: boolean } };
}
const calls: Call[] = [];
/** Checkpoints the SDK posted, as the server answered them. */
const checkpoints: Array<{ runId: string; status: number; steps: string[]; body: string }> = [];
const ran: Record<string, number> = {};
const count = (name: string) => (ran[name] = (ran[name] ?? 0) + 1);
let gate: { open(): void; wait: Promise<void>; entered: Promise<void>; enter(): void } | undefined;

function newGate() {
  let open!: () => void;
  let enter!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  const entered = new Promise<void>((r) => (enter = r));
  return { open, wait, entered, enter };
}

function functions(client: Inngest) {
  let flaky = 0;
  return [
    client.createFunction({ id: "seq", triggers: [{ event: "cp/seq" }] }, async ({ step }) => {
      const a = await step.run("a", () => count("seq.a"));
      const b = await step.run("b", () => count("seq.b") + a);
      await step.sleep("nap", "200ms");
      const c = await step.run("c", () => count("seq.c") + b);
      return { a, b, c };
    }),
    client.createFunction({ id: "retry", retries: 3, triggers: [{ event: "cp/retry" }] }, async ({ step }) => {
      const before = await step.run("before", () => count("retry.before"));
      const flake = await step.run("flaky", () => {
        count("retry.flaky");
        if (++flaky < 3) throw new Error(`flake ${flaky}`);
        return flaky;
      });
      const after = await step.run("after", () => count("retry.after"));
      return { before, flake, after };
    }),
    client.createFunction({ id: "refuse", retries: 3, triggers: [{ event: "cp/refuse" }] }, async ({ step }) => {
      await step.run("ok", () => count("refuse.ok"));
      await step.run("no", () => {
        count("refuse.no");
        throw new NonRetriableError("refused for good");
      });
    }),
    client.createFunction({ id: "parallel", triggers: [{ event: "cp/parallel" }] }, async ({ step }) => {
      const first = await step.run("first", () => count("par.first"));
      const [l, r] = await Promise.all([step.run("left", () => count("par.left")), step.run("right", () => count("par.right"))]);
      const last = await step.run("last", () => count("par.last"));
      return { first, l, r, last };
    }),
    client.createFunction({ id: "buffered", checkpointing: { bufferedSteps: 5 }, triggers: [{ event: "cp/buffered" }] }, async ({ step }) => {
      const x = await step.run("x", () => "X");
      const y = await step.run("y", () => `${x}Y`);
      return y;
    }),
    client.createFunction({ id: "fallback", triggers: [{ event: "cp/fallback" }] }, async ({ step }) => {
      const a = await step.run("a", () => count("fb.a"));
      const b = await step.run("b", () => count("fb.b") + a);
      return { a, b };
    }),
    client.createFunction({ id: "ids", triggers: [{ event: "cp/ids" }] }, async ({ requestId, jobId }) => ({ requestId, jobId })),
    client.createFunction({ id: "slow", triggers: [{ event: "cp/slow" }] }, async ({ step }) => {
      await step.run("one", () => count("slow.one"));
      await step.run("held", async () => {
        gate?.enter();
        await gate?.wait;
        return count("slow.held");
      });
      return "done";
    }),
  ];
}

const realFetch = globalThis.fetch;
let unreachable = 0;

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  // the SDK's checkpoints go through the global fetch in this process (the server's calls to the app are recorded by the app)
  globalThis.fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.pathname.endsWith("/async") && (JSON.parse(String(init?.body)) as { fn_id?: string }).fn_id === "cp-fallback") {
      // a proxy in front of the server that fails every checkpoint of this function
      unreachable++;
      return new Response("bad gateway", { status: 502 });
    }
    const response = await realFetch(input, init);
    const checkpoint = /\/v1\/checkpoint\/([^/]+)\/async$/.exec(url.pathname);
    if (checkpoint) {
      const body = JSON.parse(String(init?.body)) as { steps: Array<{ userland?: { id: string } }> };
      checkpoints.push({
        runId: decodeURIComponent(checkpoint[1] as string),
        status: response.status,
        steps: body.steps.map((s) => s.userland?.id ?? "?"),
        body: String(init?.body),
      });
    }
    return response;
  };
  inngest = new Inngest({ id: "cp", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  const handler = serve({ client: inngest, functions: functions(inngest) });
  app = createServer((req, res) => {
    // record each call as the app receives it, then hand the SDK a replay of the request
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? "/", "http://app");
      if (url.searchParams.has("fnId") && req.method === "POST") {
        calls.push({
          fnId: url.searchParams.get("fnId") as string,
          stepId: url.searchParams.get("stepId"),
          headers: req.headers as Record<string, string>,
          body: JSON.parse(body.toString("utf8")),
        });
      }
      const replay = Object.assign(Readable.from(body.length ? [body] : []), {
        headers: req.headers,
        url: req.url,
        method: req.method,
        socket: req.socket,
        httpVersion: req.httpVersion,
      });
      void handler(replay as unknown as IncomingMessage, res);
    });
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  gate?.open();
  globalThis.fetch = realFetch;
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function runFor(name: string, data: Record<string, unknown> = {}) {
  const { ids } = await inngest.send({ name, data });
  for (let i = 0; i < 500; i++) {
    const [run] = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    if (run) return run.id;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no run for ${name}`);
}

const callsOf = (runId: string) => calls.filter((c) => c.body.ctx?.run_id === runId);
const stepsByName = (steps: Array<{ name: string; status: string; attempts: number }>) =>
  Object.fromEntries(steps.map((s) => [s.name, [s.status, s.attempts]]));

describe("async checkpointing with the official SDK", () => {
  it("runs consecutive steps in one call, each checkpointed, and a sleep between calls", async () => {
    const runId = await runFor("cp/seq");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ a: 1, b: 2, c: 3 });
    expect(stepsByName(run.steps)).toMatchObject({ a: ["Completed", 1], b: ["Completed", 1], nap: ["Completed", 1], c: ["Completed", 1] });
    // a and b in the first call, c after the sleep in the second: two calls, not five
    expect(callsOf(runId)).toHaveLength(2);
    expect(checkpoints.filter((c) => c.runId === runId).map(({ body: _, ...c }) => c)).toEqual([
      { runId, status: 200, steps: ["a"] },
      { runId, status: 200, steps: ["b"] },
      { runId, status: 200, steps: ["c"] },
    ]);
    expect([ran["seq.a"], ran["seq.b"], ran["seq.c"]]).toEqual([1, 1, 1]);
  });

  it("sends fn_id, a qi_id, x-request-id and x-inngest-job-id on every call", async () => {
    const runId = await runFor("cp/seq");
    await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    const mine = callsOf(runId);
    expect(mine.length).toBeGreaterThan(0);
    const requestIds = new Set<string>();
    for (const call of mine) {
      expect(call.body.ctx?.fn_id).toBe(call.fnId);
      const qi = String(call.body.ctx?.qi_id);
      expect(qi).toMatch(/^[^.]+\.\d+$/);
      expect(call.headers["x-inngest-job-id"]).toBe(qi.slice(0, qi.lastIndexOf(".")));
      expect(call.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      requestIds.add(String(call.headers["x-request-id"]));
    }
    expect(requestIds.size).toBe(mine.length);
  });

  it("the handler sees the call's x-request-id and x-inngest-job-id as ctx.requestId and ctx.jobId", async () => {
    const runId = await runFor("cp/ids");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    const [call] = callsOf(runId);
    expect(run.output).toEqual({ requestId: call?.headers["x-request-id"], jobId: call?.headers["x-inngest-job-id"] });
    expect((run.output as { jobId?: string }).jobId).toBeTruthy();
  });

  it("retries a failing step, keeping the steps checkpointed before it", async () => {
    const runId = await runFor("cp/retry");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ before: 1, flake: 3, after: 1 });
    expect(stepsByName(run.steps)).toMatchObject({ before: ["Completed", 1], flaky: ["Completed", 3], after: ["Completed", 1] });
    expect([ran["retry.before"], ran["retry.flaky"], ran["retry.after"]]).toEqual([1, 3, 1]);
  });

  it("fails at once on NonRetriableError after a checkpointed step", async () => {
    const runId = await runFor("cp/refuse");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toBe("refused for good");
    expect(stepsByName(run.steps)).toMatchObject({ ok: ["Completed", 1], no: ["Failed", 1] });
    expect([ran["refuse.ok"], ran["refuse.no"]]).toEqual([1, 1]);
  });

  it("plans parallel steps, then checkpoints again after them (the parallel phase ends with the last branch, as with Inngest)", async () => {
    const runId = await runFor("cp/parallel");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ first: 1, l: 1, r: 1, last: 1 });
    expect(stepsByName(run.steps)).toMatchObject({ first: ["Completed", 1], left: ["Completed", 1], right: ["Completed", 1], last: ["Completed", 1] });
    expect(checkpoints.filter((c) => c.runId === runId).flatMap((c) => c.steps)).toEqual(["first", "last"]);
    // the branches' calls target them; the discovery after the last one may execute at once again
    const branches = run.steps.filter((s) => s.name === "left" || s.name === "right").map((s) => s.id);
    const flags = callsOf(runId).map((c) => [branches.includes(c.stepId ?? "") ? "branch" : c.stepId, c.body.ctx?.disable_immediate_execution]);
    expect(flags).toEqual([
      ["step", false],
      ["branch", true],
      ["branch", true],
      ["step", false],
    ]);
  });

  // regression: a 206 [StepRun x, StepRun y, RunComplete] completed the run and dropped x and y
  it("persists the steps that come back with RunComplete (buffered, not yet checkpointed)", async () => {
    const runId = await runFor("cp/buffered");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toBe("XY");
    expect(checkpoints.filter((c) => c.runId === runId)).toEqual([]);
    expect(stepsByName(run.steps)).toEqual({ x: ["Completed", 1], y: ["Completed", 1] });
    expect(run.steps.find((s) => s.name === "y")?.output).toBe("XY");
  });

  it("when checkpoints cannot reach the server, the SDK's fallback (steps in the answer) completes the run", async () => {
    const runId = await runFor("cp/fallback");
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 30_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ a: 1, b: 2 });
    expect(stepsByName(run.steps)).toEqual({ a: ["Completed", 1], b: ["Completed", 1] });
    expect([ran["fb.a"], ran["fb.b"]]).toEqual([1, 1]);
    expect(unreachable).toBeGreaterThan(0);
    expect(callsOf(runId).length).toBeGreaterThanOrEqual(3);
  }, 40_000);

  it("refuses a checkpoint with a stale lease token or after its call ended (409), changing nothing", async () => {
    gate = newGate();
    const runId = await runFor("cp/slow");
    await gate.entered;
    const call = callsOf(runId).at(-1) as Call;
    const qi = String(call.body.ctx?.qi_id);
    const [item, token] = [qi.slice(0, qi.lastIndexOf(".")), Number(qi.slice(qi.lastIndexOf(".") + 1))];
    const post = (qiId: string, stepId: string, rid = runId) =>
      fetch(`${stepwise.url}/v1/checkpoint/${rid}/async`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          run_id: rid,
          fn_id: call.fnId,
          qi_id: qiId,
          request_started_at: Date.now(),
          ts: Date.now(),
          steps: [{ id: stepId, op: "StepRun", name: "forged", displayName: "forged", userland: { id: "forged" }, data: "forged" }],
        }),
      });
    // the SDK's own checkpoint of step "one", posted again (as when its answer is lost): applied once
    const sent = checkpoints.find((c) => c.runId === runId && c.steps[0] === "one");
    const repeated = await fetch(`${stepwise.url}/v1/checkpoint/${runId}/async`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: sent?.body,
    });
    expect(repeated.status).toBe(200);
    const stale = await post(`${item}.${token + 1}`, "f".repeat(40));
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { code: string }).code).toBe("conflict");
    expect((await post(qi, "e".repeat(40), "01NOTTHISRUN0000000000000")).status).toBe(409);
    expect((await stepwise.engine.getRun(runId))?.steps.map((s) => [s.name, s.attempts])).toEqual([["one", 1]]);
    gate.open();
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    // the call is over: its qi_id no longer fences anything
    const late = await post(qi, "d".repeat(40));
    expect(late.status).toBe(409);
    const after = await stepwise.engine.getRun(runId);
    expect(after?.steps.map((s) => s.name).sort()).toEqual(["held", "one"]);
    expect(after?.steps.some((s) => s.output === "forged")).toBe(false);
    expect([ran["slow.one"], ran["slow.held"]]).toEqual([1, 1]);
  });

  it("reports a checkpointed op the engine cannot run (an unknown op) as the run's error", async () => {
    gate = newGate();
    const runId = await runFor("cp/slow");
    await gate.entered;
    const call = callsOf(runId).at(-1) as Call;
    const response = await fetch(`${stepwise.url}/v1/checkpoint/${runId}/async`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        run_id: runId,
        fn_id: call.fnId,
        qi_id: call.body.ctx?.qi_id,
        ts: Date.now(),
        steps: [{ id: "c".repeat(40), op: "FutureOp", userland: { id: "later" }, opts: {} }],
      }),
    });
    expect(response.status).toBe(200);
    gate.open();
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(run.error).toMatchObject({ name: "UnsupportedStepError" });
    expect(run.error?.message).toMatch(/FutureOp \(step "later"\)/);
  });

  it("answers a malformed checkpoint with 400 naming the field", async () => {
    const response = await fetch(`${stepwise.url}/v1/checkpoint/r1/async`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ run_id: "r1", fn_id: "f", steps: [] }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/qi_id/);
    const badOp = await fetch(`${stepwise.url}/v1/checkpoint/r1/async`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ run_id: "r1", fn_id: "f", qi_id: "a.1", steps: [{ op: "StepRun" }] }),
    });
    expect(badOp.status).toBe(400);
    expect(((await badOp.json()) as { error: string }).error).toMatch(/steps\[0\]\.id/);
  });
});
