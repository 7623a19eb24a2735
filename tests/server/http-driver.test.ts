/**
 * The HTTP driver's reading of app responses (inngest-protocol §8.2, §8.11) and its
 * handling of hung, broken and non-SDK apps.
 */
import { createServer, type Server } from "node:http";
import { validateFunctionConfig } from "@stepwise/protocol";
import { decodeResponse, HttpFunction } from "@stepwise/server";
import { afterEach, describe, expect, it } from "vitest";
import { startEngine } from "../helpers.ts";

const sdk = { "x-inngest-sdk": "inngest-js:v4.24.0", "x-inngest-sdk-handled": "true", "content-type": "application/json" };
const reply = (status: number, body: unknown, headers: Record<string, string> = sdk) =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers });

describe("decodeResponse", () => {
  it("reads results, ops, completion inside ops, and errors with their retry headers", async () => {
    expect(await decodeResponse(reply(200, { ok: 1 }), "app")).toEqual({ type: "function-resolved", data: { ok: 1 } });
    expect(await decodeResponse(reply(200, ""), "app")).toEqual({ type: "function-resolved", data: null });
    const ops = [{ id: "h", op: "StepRun", data: 1 }];
    expect(await decodeResponse(reply(206, ops), "app")).toEqual({ type: "steps", ops });
    expect(await decodeResponse(reply(206, [{ id: "c", op: "RunComplete", data: "done" }]), "app")).toEqual({ type: "function-resolved", data: "done" });
    const retriable = await decodeResponse(
      reply(500, { name: "Error", message: "boom", stack: "s" }, { ...sdk, "x-inngest-no-retry": "false", "retry-after": "30" }),
      "app",
    );
    expect(retriable).toMatchObject({ type: "function-rejected", retriable: true, error: { name: "Error", message: "boom" } });
    expect((retriable as { retryAt: number }).retryAt - Date.now()).toBeGreaterThan(28_000);
    expect(await decodeResponse(reply(400, { name: "NonRetriableError", message: "stop" }, { ...sdk, "x-inngest-no-retry": "true" }), "app")).toMatchObject({
      type: "function-rejected",
      retriable: false,
      error: { name: "NonRetriableError", message: "stop" },
    });
    const at = await decodeResponse(reply(206, ops, { ...sdk, "retry-after": "2030-01-01T00:00:00.000Z" }), "app");
    expect(at).toEqual({ type: "steps", ops, retryAt: Date.UTC(2030, 0, 1) });
  });

  it("treats a response without SDK headers as a retriable transport failure, keeping the body", async () => {
    const result = await decodeResponse(reply(502, "<html>Bad gateway</html>", { "content-type": "text/html" }), "http://app/api/inngest");
    expect(result).toMatchObject({ type: "function-rejected", retriable: true, error: { name: "HttpTransportError" } });
    expect((result as { error: { message: string } }).error.message).toMatch(/answered 502 without Inngest SDK headers.*Bad gateway/);
  });

  it("reads the official SDK's own 500 (a wrapRequest middleware threw) as an error of the attempt, not an outage", async () => {
    const body = { type: "internal", name: "Error", message: "request rejected", stack: "Error: request rejected" };
    const result = await decodeResponse(reply(500, body, { "content-type": "application/json" }), "app");
    expect(result).toEqual({
      type: "function-rejected",
      retriable: true,
      error: { name: "Error", message: "request rejected", stack: "Error: request rejected" },
    });
    // any other 500 without SDK headers is still no SDK answering
    const other = await decodeResponse(reply(500, { message: "upstream" }, { "content-type": "application/json" }), "app");
    expect(other).toMatchObject({ type: "function-rejected", retriable: true, unreachable: true, error: { name: "HttpTransportError" } });
  });

  it("unwraps a streamed 201 envelope", async () => {
    const envelope = JSON.stringify({ status: 200, headers: sdk, body: JSON.stringify({ streamed: true }), version: 2 });
    expect(await decodeResponse(reply(201, `   ${envelope}`), "app")).toEqual({ type: "function-resolved", data: { streamed: true } });
  });
});

describe("HttpFunction", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function app(handler: Parameters<typeof createServer>[1]) {
    server = createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", () => resolve()));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/api/inngest`;
  }

  const config = { id: "app-fn", slug: "fn", appId: "app", name: "fn", triggers: [], retries: 2 };
  const input = {
    runId: "run-1",
    event: { id: "e", name: "x", data: { b: 1, a: 2 }, user: {}, ts: 1 },
    events: [{ id: "e", name: "x", data: { b: 1, a: 2 }, user: {}, ts: 1 }],
    memo: new Map([["h1", { data: "done" }]]),
    attempt: 1,
    maxAttempts: 3,
  };

  it("sends a canonical call request with the run's context", async () => {
    let seen: { url?: string; body?: string; headers?: Record<string, unknown> } = {};
    const url = await app((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen = { url: req.url, body, headers: req.headers };
        res.writeHead(200, sdk).end(JSON.stringify("ok"));
      });
    });
    const fn = new HttpFunction({ config, url: `${url}?fnId=app-fn&stepId=step`, serverKind: "dev", timeoutMs: 5_000 });
    expect(await fn.execute({ ...input, targetStepId: "h2", requestVersion: 2 })).toEqual({ type: "function-resolved", data: "ok" });
    expect(seen.url).toBe("/api/inngest?fnId=app-fn&stepId=h2");
    expect(seen.headers).toMatchObject({ "x-inngest-server-kind": "dev", "x-inngest-req-version": "2" });
    expect(seen.headers?.["x-inngest-signature"]).toBeUndefined();
    // RFC 8785: keys sorted, no whitespace; no ctx.fn_id (no checkpointing)
    expect(seen.body).toBe(
      '{"ctx":{"attempt":1,"disable_immediate_execution":true,"max_attempts":3,"run_id":"run-1","stack":{"current":1,"stack":["h1"]},"use_api":false},"event":{"data":{"a":2,"b":1},"id":"e","name":"x","ts":1,"user":{}},"events":[{"data":{"a":2,"b":1},"id":"e","name":"x","ts":1,"user":{}}],"steps":{"h1":{"data":"done"}},"version":2}',
    );
  });

  it("sends a traceparent with tracing off: the run's trace id on every call of the run, a fresh span id per call", async () => {
    const seen: string[] = [];
    const url = await app((req, res) => {
      seen.push(String(req.headers.traceparent));
      req.resume().on("end", () => res.writeHead(200, sdk).end(JSON.stringify("ok")));
    });
    const fn = new HttpFunction({ config, url: `${url}?fnId=app-fn&stepId=step`, serverKind: "dev", timeoutMs: 5_000 });
    await fn.execute(input);
    await fn.execute(input);
    await fn.execute({ ...input, runId: "run-2" });
    const parts = seen.map((h) => h.match(/^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/)?.slice(1));
    expect(parts.every(Boolean)).toBe(true);
    const [a, b, c] = parts as [string, string][];
    expect(a?.[0]).toBe(b?.[0]);
    expect(a?.[1]).not.toBe(b?.[1]);
    expect(c?.[0]).not.toBe(a?.[0]);
  });

  it("lets the SDK choose the request version on a run's first call, records its answer and sends it back", async () => {
    const seen: { header: unknown; body: number }[] = [];
    const url = await app((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ header: req.headers["x-inngest-req-version"], body: JSON.parse(body).version });
        res.writeHead(200, { ...sdk, "x-inngest-req-version": "1" }).end(JSON.stringify("ok"));
      });
    });
    const fn = new HttpFunction({ config, url, serverKind: "dev", timeoutMs: 5_000 });
    expect(await fn.execute(input)).toEqual({ type: "function-resolved", data: "ok", requestVersion: 1 });
    await fn.execute({ ...input, requestVersion: 1 });
    expect(seen).toEqual([
      { header: "-1", body: -1 },
      { header: "1", body: 1 },
    ]);
  });

  it("fails a hung call after the timeout and a refused connection at once, both retriable", async () => {
    const url = await app(() => {});
    const hung = new HttpFunction({ config, url, serverKind: "dev", timeoutMs: 200 });
    expect(await hung.execute(input)).toMatchObject({
      type: "function-rejected",
      retriable: true,
      error: { message: expect.stringMatching(/timed out after 200 ms/) },
    });
    const refused = new HttpFunction({ config, url: "http://127.0.0.1:9/api/inngest", serverKind: "dev", timeoutMs: 2_000 });
    expect(await refused.execute(input)).toMatchObject({ type: "function-rejected", retriable: true, error: { name: "HttpTransportError" } });
  });
});

describe("request version through the engine (inngest-protocol §8.6)", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it("a run's later calls send back the version the app answered its first call with", async () => {
    const seen: { header: unknown; body: number }[] = [];
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const parsed = JSON.parse(body);
        seen.push({ header: req.headers["x-inngest-req-version"], body: parsed.version });
        const headers = { ...sdk, "x-inngest-req-version": "1" };
        if (Object.keys(parsed.steps).length === 0) res.writeHead(206, headers).end(JSON.stringify([{ id: "h1", op: "StepRun", name: "one", data: 1 }]));
        else res.writeHead(200, headers).end(JSON.stringify("done"));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/inngest`;
    const config = validateFunctionConfig({ id: "app-v1", slug: "v1", appId: "app", name: "v1", triggers: [{ event: "t/v1" }], retries: 0 });
    const { engine } = await startEngine({ functions: [new HttpFunction({ config, url, serverKind: "dev", timeoutMs: 5_000 })] });
    const { ids } = await engine.send({ name: "t/v1" });
    const [run] = await engine.listRuns({ eventId: ids[0] });
    const ended = await engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    expect(ended.status).toBe("Completed");
    expect(seen).toEqual([
      { header: "-1", body: -1 },
      { header: "1", body: 1 },
    ]);
  });
});
