/**
 * Durable endpoints with the official `inngest` SDK (v4): `inngest.endpoint()` wraps an
 * HTTP handler (the edge adapter: a plain `Request` → `Response` function), runs its steps
 * in the request and checkpoints them to `POST /v1/checkpoint` and
 * `POST /v1/checkpoint/{runId}/steps`; the run, its steps and its output are recorded by
 * the Stepwise dev server and readable at `GET /v1/http/runs/{runId}/output`. A route that
 * cannot finish in its request (a sleep, a step to retry) redirects its client to that
 * output and the server finishes the run by calling the route again.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { DurableEndpoints } from "@stepwise/server";
import { Inngest, step } from "inngest";
import { endpointAdapter } from "inngest/edge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";

let stepwise: RunningServer;
let inngest: Inngest;
const realFetch = globalThis.fetch;
const tokens = new Map<string, string>();

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, logger: silentLogger, retryDelayScale: 0.01 });
  // keep the tokens the server hands out, to read the output as the SDK's proxy does
  globalThis.fetch = async (input, init) => {
    const response = await realFetch(input, init);
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.pathname === "/v1/checkpoint" && response.ok) {
      const { data } = (await response.clone().json()) as { data: { run_id: string; token: string } };
      tokens.set(data.run_id, data.token);
    }
    return response;
  };
  inngest = new Inngest({ id: "endpoints", isDev: true, baseUrl: stepwise.url, endpointAdapter, logger: { info() {}, warn() {}, error() {}, debug() {} } });
}, 30_000);

/** Serves an endpoint handler on a real port, as an app would: the server calls it back there. */
async function listen(handler: (req: Request) => Promise<Response>): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
  let calls = 0;
  const server: Server = createServer(async (req, res) => {
    calls++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : []));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}${req.url}`;
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const out = await handler(new Request(url, { method: req.method, headers, ...(hasBody ? { body: Buffer.concat(chunks) } : {}) }));
    res.writeHead(out.status, Object.fromEntries(out.headers));
    res.end(Buffer.from(await out.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    calls: () => calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

afterAll(async () => {
  globalThis.fetch = realFetch;
  await stepwise?.close();
});

describe("durable endpoints with the official SDK", () => {
  it("runs the steps in the request and records the run with its steps and output", async () => {
    let ran = 0;
    const handler = inngest.endpoint(async (req: Request) => {
      const name = new URL(req.url).searchParams.get("name") ?? "?";
      const greeting = await step.run("greet", () => {
        ran++;
        return `hello ${name}`;
      });
      const shout = await step.run("shout", () => greeting.toUpperCase());
      return new Response(JSON.stringify({ shout }), { headers: { "content-type": "application/json" } });
    }) as (req: Request) => Promise<Response>;

    const response = await handler(new Request("http://127.0.0.1:3999/api/hello?name=ada", { headers: { host: "127.0.0.1:3999" } }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ shout: "HELLO ADA" });
    expect(ran).toBe(1);

    const [runId] = [...tokens.keys()];
    // a handler that returns a Response has its end checkpointed after the response (the SDK's choice)
    await until(async () => (await stepwise.engine.getRun(runId as string))?.status === "Completed");
    const run = await stepwise.engine.getRun(runId as string);
    expect(run?.steps.map((s) => [s.name, s.status, s.output])).toEqual([
      ["greet", "Completed", "hello ada"],
      ["shout", "Completed", "HELLO ADA"],
    ]);
    const event = await stepwise.engine.store.getEvent(run?.eventIds[0] as string);
    expect(event).toMatchObject({ name: "inngest/http.request", data: { method: "GET", path: "/api/hello", query_params: "name=ada" } });

    const output = await realFetch(`${stepwise.url}/v1/http/runs/${runId}/output?token=${tokens.get(runId as string)}`);
    expect(output.status).toBe(200);
    expect(await output.json()).toMatchObject({ status: 200 });
    const forged = await realFetch(`${stepwise.url}/v1/http/runs/${runId}/output?token=nope`);
    expect(forged.status).toBe(401);
  });

  it("records a returned value as the run's output, readable with the run's token", async () => {
    const handler = inngest.endpoint(async () => {
      const n = await step.run("count", () => 41);
      return { answer: n + 1 };
    }) as unknown as (req: Request) => Promise<Response>;
    const before = new Set(tokens.keys());
    const response = await handler(new Request("http://127.0.0.1:3999/api/answer", { method: "POST", body: "{}", headers: { host: "127.0.0.1:3999" } }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ answer: 42 });
    const runId = [...tokens.keys()].find((id) => !before.has(id)) as string;
    const run = await stepwise.engine.getRun(runId);
    expect(run?.status).toBe("Completed");
    expect(run?.steps.map((s) => [s.name, s.output])).toEqual([["count", 41]]);
    const output = await realFetch(`${stepwise.url}/v1/http/runs/${runId}/output?token=${tokens.get(runId)}`);
    expect(await output.json()).toMatchObject({ status: 200, body: JSON.stringify({ answer: 42 }) });
  });

  it("goes async at a sleep: the client is redirected to the output, the server re-enters the route and finishes the run", async () => {
    const ran = { greet: 0, shout: 0 };
    const app = await listen(
      inngest.endpoint(async (req: Request) => {
        const name = new URL(req.url).searchParams.get("name") ?? "?";
        const greeting = await step.run("greet", () => {
          ran.greet++;
          return `hello ${name}`;
        });
        await step.sleep("nap", "200ms");
        const shout = await step.run("shout", () => {
          ran.shout++;
          return greeting.toUpperCase();
        });
        return new Response(JSON.stringify({ shout }), { headers: { "content-type": "application/json" } });
      }) as (req: Request) => Promise<Response>,
    );
    try {
      const response = await realFetch(`${app.url}/api/nap?name=ada`, { redirect: "manual" });
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") as string);
      expect(location.origin).toBe(stepwise.url);
      const runId = location.pathname.split("/")[4] as string;
      await until(async () => (await stepwise.engine.getRun(runId))?.status === "Completed", 10_000);
      const run = await stepwise.engine.getRun(runId);
      expect(run?.steps.map((s) => [s.name, s.status])).toEqual([
        ["greet", "Completed"],
        ["nap", "Completed"],
        ["shout", "Completed"],
      ]);
      // each step ran once: the re-entries replayed "greet" from the server's memo
      expect(ran).toEqual({ greet: 1, shout: 1 });
      expect(app.calls()).toBeGreaterThanOrEqual(3); // the client's request, then the server's re-entries
      const output = await realFetch(location.href);
      expect(output.status).toBe(200);
      expect(await output.json()).toMatchObject({ status: 200, body: JSON.stringify(JSON.stringify({ shout: "HELLO ADA" })) });
    } finally {
      await app.close();
    }
  });

  it("retries a step that failed in the request: the run goes async and the retry succeeds", async () => {
    let attempts = 0;
    const app = await listen(
      inngest.endpoint(async () => {
        const value = await step.run("flaky", () => {
          attempts++;
          if (attempts === 1) throw new Error("first attempt fails");
          return attempts;
        });
        return { value };
      }) as unknown as (req: Request) => Promise<Response>,
    );
    try {
      const response = await realFetch(`${app.url}/api/flaky`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
        redirect: "manual",
      });
      expect(response.status).toBe(302);
      const runId = new URL(response.headers.get("location") as string).pathname.split("/")[4] as string;
      await until(async () => (await stepwise.engine.getRun(runId))?.status === "Completed", 10_000);
      const run = await stepwise.engine.getRun(runId);
      expect(attempts).toBe(2);
      expect(run?.steps.map((s) => [s.name, s.status, s.output])).toEqual([["flaky", "Completed", 2]]);
      expect(run?.output).toMatchObject({ status: 200 });
    } finally {
      await app.close();
    }
  });

  it("re-enters only endpoint runs, and only at allowed origins (start mode allows none unless told)", async () => {
    const app = await listen(async () => new Response("should not be called", { status: 500 }));
    try {
      const endpoints = new DurableEndpoints({ serverKind: "cloud", allowedOrigins: ["https://api.example.com"] });
      expect(endpoints.driver("app-some-function")).toBeUndefined();
      const driver = endpoints.driver("endpoint GET /api/x");
      const event = {
        id: "e1",
        name: "inngest/http.request",
        data: { domain: app.url, path: "/api/x", method: "GET", query_params: "", body: "" },
        user: {},
        ts: 0,
      };
      const result = await driver?.execute({ runId: "r1", event, events: [event], memo: new Map(), attempt: 0, maxAttempts: 4 });
      expect(result).toMatchObject({ type: "function-rejected", retriable: false, error: { name: "EndpointError" } });
      expect((result as { error: { message: string } }).error.message).toContain("--endpoint-origins");
      expect(app.calls()).toBe(0);
    } finally {
      await app.close();
    }
  });

  it("refuses sync checkpoints for unknown or ended runs, and bad bodies, with 4xx naming the field", async () => {
    const post = (path: string, body: unknown) =>
      realFetch(`${stepwise.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const unknown = await post("/v1/checkpoint/01UNKNOWN0000000000000000/steps", { run_id: "01UNKNOWN0000000000000000", steps: [] });
    expect(unknown.status).toBe(404);
    const [ended] = [...tokens.keys()];
    const late = await post(`/v1/checkpoint/${ended}/steps`, { run_id: ended, steps: [{ id: "a".repeat(40), op: "StepRun", data: 1 }] });
    expect(late.status).toBe(409);
    const noEvent = await post("/v1/checkpoint", { run_id: "01NEWRUN00000000000000000", steps: [] });
    expect(noEvent.status).toBe(400);
    expect(((await noEvent.json()) as { error: string }).error).toMatch(/event/);
    const again = await post("/v1/checkpoint", { run_id: ended, event: { name: "inngest/http.request", data: {} }, steps: [] });
    expect(again.status).toBe(409);
    const before = await stepwise.engine.getRun(ended as string);
    const retried = await post("/v1/checkpoint", {
      run_id: ended,
      event: { name: "inngest/http.request", data: { method: "GET", path: "/api/hello", fn: "" } },
      steps: [{ id: "b".repeat(40), op: "StepRun", data: "late" }],
    });
    expect(retried.status).toBe(409); // the run has ended: nothing is added
    expect((await stepwise.engine.getRun(ended as string))?.steps).toEqual(before?.steps);
  });
});
