/**
 * OpenTelemetry traces from `stepwise dev`, configured only by OTEL_* variables: a child
 * process exporting OTLP/HTTP (JSON) to a receiver on 127.0.0.1, an app on the official
 * `inngest` SDK recording the `traceparent` of each call it gets.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { Stepwise, silentLogger } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

// the sources, run through tsx (a dist/ left by an earlier build may be stale)
const source = fileURLToPath(new URL("../packages/stepwise/src/bin.ts", import.meta.url));
const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

const silent = { info() {}, warn() {}, error() {}, debug() {} };

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, unknown>;
  status?: { code?: number; message?: string };
  service?: string;
}

function listen(server: Server): Promise<string> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const value = (v: Record<string, unknown> | undefined): unknown =>
  v ? (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue) : undefined;

/** An OTLP/HTTP traces receiver (JSON encoding): every span posted to /v1/traces. */
async function otlpReceiver() {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server = createServer(async (req, res) => {
    paths.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
    const text = await body(req);
    if (req.url === "/v1/traces") {
      const decoded = JSON.parse(text) as {
        resourceSpans: Array<{
          resource?: { attributes?: Array<{ key: string; value: Record<string, unknown> }> };
          scopeSpans: Array<{ spans: Array<Omit<OtlpSpan, "attributes"> & { attributes?: Array<{ key: string; value: Record<string, unknown> }> }> }>;
        }>;
      };
      for (const rs of decoded.resourceSpans) {
        const service = rs.resource?.attributes?.find((a) => a.key === "service.name");
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              ...s,
              attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, value(a.value)])),
              service: value(service?.value) as string,
            });
          }
        }
      }
    }
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  const url = await listen(server);
  return { url, spans, paths };
}

/** An app on the official SDK: a step, a sleep, a step; records the `traceparent` of each call. */
async function app(base: string) {
  const traceparents: Array<string | undefined> = [];
  const inngest = new Inngest({ id: "otel-app", isDev: true, baseUrl: base, logger: silent });
  const fn = inngest.createFunction({ id: "traced", triggers: [{ event: "otel/served" }] }, async ({ step }) => {
    const a = await step.run("first", () => 1);
    await step.sleep("nap", "200ms");
    return a + (await step.run("second", () => 2));
  });
  const handler = serve({ client: inngest, functions: [fn] });
  const server = createServer((req, res) => {
    if (req.method === "POST") traceparents.push(req.headers.traceparent as string | undefined);
    return handler(req, res);
  });
  const url = `${await listen(server)}/api/inngest`;
  return { url, traceparents };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean, what: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (!check()) throw new Error(`timed out waiting: ${what()}`);
}

async function startDev(env: Record<string, string>) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const served = await app(base);
  const db = join(tempDir(), "otel.db");
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_")));
  const child = spawn(
    process.execPath,
    ["--conditions=stepwise-source", "--import", "tsx", source, "dev", "-u", served.url, "--port", String(port), "--db", db, "--no-discovery"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...clean, ...env } },
  );
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  await waitFor(
    () => /synced http:\/\/127\.0\.0\.1:\d+\/api\/inngest \(1 functions\)/.test(out) || child.exitCode !== null,
    () => out,
  );
  expect(child.exitCode, out).toBeNull();
  const send = async (headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}/e/test-key`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ name: "otel/served", data: {} }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { ids: string[] }).ids[0] as string;
  };
  const runOf = async (eventId: string) => {
    const response = await fetch(`${base}/v1/events/${eventId}/runs`);
    return ((await response.json()) as { data: Array<{ run_id: string; status: string }> }).data[0];
  };
  return { child, out: () => out, send, runOf, served, base };
}

/** The run an event started, once it has ended (or after 30 s). */
async function completed(runOf: (eventId: string) => Promise<{ run_id: string; status: string } | undefined>, eventId: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await runOf(eventId);
    if ((run && run.status !== "Running" && run.status !== "Queued") || Date.now() > deadline) return run;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const senderSpanId = "00f067aa0ba902b7";

describe("traces (stepwise dev, OTEL_* variables)", () => {
  it("exports a run span in the sender's trace, call and step spans under it, and carries traceparent to the app", async () => {
    const receiver = await otlpReceiver();
    const dev = await startDev({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "stepwise-otel-test",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });
    expect(dev.out()).toMatch(/tracing: exporting spans/);
    const eventId = await dev.send({ traceparent: `00-${traceId}-${senderSpanId}-01` });
    await waitFor(
      () => receiver.spans.some((s) => s.name === "stepwise.run"),
      () => `${dev.out()}\n${receiver.paths.join("\n")}\n${JSON.stringify(receiver.spans.map((s) => s.name))}`,
    );
    const run = await completed(dev.runOf, eventId);
    expect(run?.status).toBe("Completed");
    const runSpan = receiver.spans.find((s) => s.name === "stepwise.run");
    expect(runSpan).toMatchObject({ traceId, parentSpanId: senderSpanId, service: "stepwise-otel-test" });
    expect(runSpan?.attributes).toMatchObject({
      "stepwise.function.id": "otel-app-traced",
      "stepwise.run.id": run?.run_id,
      "stepwise.event.name": "otel/served",
      "stepwise.run.status": "Completed",
    });
    const calls = receiver.spans.filter((s) => s.name === "stepwise.call");
    const steps = receiver.spans.filter((s) => s.name === "stepwise.step");
    // one call per step and one after the sleep, at least: the sleep splits the run in two calls or more
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(steps.map((s) => s.attributes["stepwise.step.op"])).toEqual(expect.arrayContaining(["StepRun", "Sleep"]));
    for (const span of [...calls, ...steps]) {
      expect(span.traceId).toBe(traceId);
      expect(span.parentSpanId).toBe(runSpan?.spanId);
    }
    for (const call of calls) expect(call.attributes).toMatchObject({ "url.full": dev.served.url, "http.response.status_code": expect.any(Number) });
    // each call to the app carried the call span as its parent
    const callIds = new Set(calls.map((s) => s.spanId));
    expect(dev.served.traceparents.length).toBe(calls.length);
    for (const header of dev.served.traceparents) {
      const [, tid, parent] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(header ?? "") ?? [];
      expect(tid).toBe(traceId);
      expect(callIds.has(parent ?? "")).toBe(true);
    }

    // our SDK's client.send inside an active span sends its traceparent: that run is in the span's trace
    const provider = new BasicTracerProvider();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const sender = new Stepwise({ id: "sender", eventKey: "test-key", baseUrl: dev.base, logger: silentLogger });
      const outer = provider.getTracer("test").startSpan("request");
      const { ids } = await context.with(trace.setSpan(context.active(), outer), () => sender.send({ name: "otel/served" }));
      outer.end();
      const second = await completed(dev.runOf, ids[0] as string);
      expect(second?.status).toBe("Completed");
      await waitFor(
        () => receiver.spans.some((s) => s.name === "stepwise.run" && s.attributes["stepwise.run.id"] === second?.run_id),
        () => JSON.stringify(receiver.spans.map((s) => [s.name, s.traceId])),
      );
      const secondSpan = receiver.spans.find((s) => s.name === "stepwise.run" && s.attributes["stepwise.run.id"] === second?.run_id);
      expect(secondSpan).toMatchObject({ traceId: outer.spanContext().traceId, parentSpanId: outer.spanContext().spanId });
    } finally {
      context.disable();
      await provider.shutdown();
    }
  }, 90_000);

  it("exports nothing with OTEL_SDK_DISABLED=true; served calls carry the run's own traceparent, not the sender's", async () => {
    const receiver = await otlpReceiver();
    const dev = await startDev({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_SDK_DISABLED: "true",
    });
    const eventId = await dev.send({ traceparent: `00-${traceId}-${senderSpanId}-01` });
    const run = await completed(dev.runOf, eventId);
    expect(run?.status).toBe("Completed");
    // give a batch export time to happen, were there one
    await new Promise((r) => setTimeout(r, 500));
    expect(dev.out()).not.toMatch(/tracing:/);
    expect(receiver.paths).toEqual([]);
    expect(dev.served.traceparents.length).toBeGreaterThanOrEqual(2);
    // as Inngest's executor does, every call has a traceparent (the official SDK attributes
    // AI spans to steps only under one): the run's trace, not the event sender's
    const traces = new Set(dev.served.traceparents.map((h) => h?.match(/^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/)?.[1]));
    expect([...traces]).toEqual([expect.stringMatching(/^[0-9a-f]{32}$/)]);
    expect(traces.has(traceId)).toBe(false);
  }, 90_000);
});
