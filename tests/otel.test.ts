/**
 * OpenTelemetry traces in-process: an engine with `tracing` on a tracer provider that
 * uses `StepwiseIdGenerator`, spans collected by the SDK's in-memory exporter. Runs on
 * SQLite, or Postgres with STEPWISE_TEST_STORE=postgres.
 */

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { context, propagation, type TracerProvider, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { parseTraceContext, StepwiseIdGenerator } from "@stepwise/engine";
import { connectTraceContext, connectWire } from "@stepwise/server";
import { createServeHandler, Stepwise, silentLogger } from "stepwise";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sendAndWait, startEngine, tempDir, until } from "./helpers.ts";

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ idGenerator: new StepwiseIdGenerator(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  // the test's own spans (a sender's) need an active-context manager, as an SDK's start() sets one up
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  context.disable();
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

const client = () => new Stepwise({ id: "otel", logger: silentLogger });
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
const tracing = { tracerProvider: provider as TracerProvider };

describe("traces (in-process)", () => {
  it("emits a run span with a step span per step and a call span per call, all in one trace", async () => {
    const c = client();
    const fn = c.createFunction({ id: "two-steps", retries: 1 }, { event: "otel/two" }, async ({ step, attempt }) => {
      const a = await step.run("first", () => 1);
      const b = await step.run("second", () => {
        if (attempt === 0) throw new Error("flaky");
        return 2;
      });
      return a + b;
    });
    const { engine } = await startEngine({ client: c, functions: [fn], tracing });
    const run = await sendAndWait(engine, c, { name: "otel/two" });
    expect(run.status).toBe("Completed");
    await until(() => named("stepwise.run").length === 1);
    const [runSpan] = named("stepwise.run");
    expect(runSpan).toBeDefined();
    if (!runSpan) return;
    const { traceId, spanId } = runSpan.spanContext();
    expect(runSpan.attributes).toMatchObject({
      "stepwise.function.id": "otel-two-steps",
      "stepwise.run.id": run.id,
      "stepwise.event.name": "otel/two",
      "stepwise.run.status": "Completed",
    });
    expect(runSpan.status.code).toBe(1); // OK
    // the stored context names this very span
    const stored = (await engine.store.getRun(run.id))?.traceContext;
    expect(stored).toBe(`00-${traceId}-${spanId}-01`);
    expect(parentId(runSpan)).toBeUndefined();

    const steps = named("stepwise.step");
    expect(steps.map((s) => [s.attributes["stepwise.step.name"], s.attributes["stepwise.step.op"], s.attributes["stepwise.step.attempt"]])).toEqual([
      ["first", "StepRun", 1],
      ["second", "StepError", 1],
      ["second", "StepRun", 2],
    ]);
    const errored = steps[1];
    expect(errored?.status.code).toBe(2); // ERROR
    expect(String(errored?.attributes["stepwise.step.error"])).toContain("flaky");
    for (const span of [...steps, ...named("stepwise.call")]) {
      expect(span.spanContext().traceId).toBe(traceId);
      expect(parentId(span)).toBe(spanId);
      expect(span.attributes["stepwise.run.id"]).toBe(run.id);
    }
    expect(named("stepwise.call").length).toBeGreaterThanOrEqual(2);
  });

  it("keeps a run with a sleep across two calls in one trace", async () => {
    const c = client();
    const fn = c.createFunction({ id: "sleepy" }, { event: "otel/sleep" }, async ({ step }) => {
      await step.run("before", () => "a");
      await step.sleep("nap", "50ms");
      return step.run("after", () => "b");
    });
    const { engine } = await startEngine({ client: c, functions: [fn], tracing });
    const run = await sendAndWait(engine, c, { name: "otel/sleep" });
    expect(run.status).toBe("Completed");
    await until(() => named("stepwise.run").length === 1);
    const runSpan = named("stepwise.run")[0];
    const calls = named("stepwise.call");
    // the call that ran up to the sleep, and the one that woke from it
    expect(calls.map((s) => s.attributes["stepwise.call.kind"])).toEqual(["discovery", "discovery"]);
    expect(new Set(exporter.getFinishedSpans().map((s) => s.spanContext().traceId))).toEqual(new Set([runSpan?.spanContext().traceId]));
    for (const call of calls) expect(parentId(call)).toBe(runSpan?.spanContext().spanId);
    expect(named("stepwise.step").map((s) => s.attributes["stepwise.step.op"])).toEqual(["StepRun", "Sleep", "StepRun"]);
    // the run span covers both calls
    const ms = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;
    expect(ms(runSpan?.startTime ?? [0, 0])).toBeLessThanOrEqual(ms(calls[0]?.startTime ?? [0, 0]));
    expect(ms(runSpan?.endTime ?? [0, 0])).toBeGreaterThanOrEqual(ms(calls[1]?.endTime ?? [0, 0]) - 1);
  });

  it("keeps a run in one trace when another engine (another process, another node) finishes it", async () => {
    const otherExporter = new InMemorySpanExporter();
    const other = new NodeTracerProvider({ idGenerator: new StepwiseIdGenerator(), spanProcessors: [new SimpleSpanProcessor(otherExporter)] });
    const database = join(tempDir(), "handover.db");
    const define = (c: Stepwise) =>
      c.createFunction({ id: "handover" }, { event: "otel/handover" }, async ({ step }) => {
        await step.run("before", () => "a");
        await step.sleep("nap", "300ms");
        return step.run("after", () => "b");
      });
    const first = client();
    const one = await startEngine({ database, client: first, functions: [define(first)], tracing });
    const { ids } = await first.send({ name: "otel/handover" });
    const [run] = await one.engine.listRuns({ eventId: ids[0] });
    await until(async () => (await one.engine.getRun(run?.id ?? ""))?.steps.some((s) => s.status === "Sleeping") ?? false);
    const stored = parseTraceContext((await one.engine.store.getRun(run?.id ?? ""))?.traceContext);
    await one.engine.close();
    expect(stored).toBeDefined();

    const second = client();
    const two = await startEngine({ database, client: second, functions: [define(second)], tracing: { tracerProvider: other } });
    expect((await two.engine.waitForRun(run?.id ?? "", { timeoutMs: 10_000 })).status).toBe("Completed");
    await until(() => otherExporter.getFinishedSpans().some((s) => s.name === "stepwise.run"));
    const spans = otherExporter.getFinishedSpans();
    const runSpan = spans.find((s) => s.name === "stepwise.run");
    expect(runSpan?.spanContext()).toMatchObject({ traceId: stored?.traceId, spanId: stored?.runSpanId });
    const calls = spans.filter((s) => s.name === "stepwise.call");
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const span of [...calls, ...spans.filter((s) => s.name === "stepwise.step")]) {
      expect(span.spanContext().traceId).toBe(stored?.traceId);
      expect(parentId(span)).toBe(stored?.runSpanId);
    }
    // the first engine's call and step spans are in the same trace, under the same run span
    const before = named("stepwise.call");
    expect(before.length).toBeGreaterThanOrEqual(1);
    for (const span of before) expect(parentId(span)).toBe(stored?.runSpanId);
    await other.shutdown();
  });

  it("puts a run started by client.send inside an active span into that span's trace, under it", async () => {
    const c = client();
    const fn = c.createFunction({ id: "child" }, { event: "otel/child" }, async ({ step }) => step.run("only", () => 1));
    const { engine } = await startEngine({ client: c, functions: [fn], tracing });
    const tracer = provider.getTracer("test");
    const outer = tracer.startSpan("request");
    const { ids } = await context.with(trace.setSpan(context.active(), outer), () => c.send({ name: "otel/child" }));
    outer.end();
    const [listed] = await engine.listRuns({ eventId: ids[0] });
    expect(listed?.traceContext).toMatch(new RegExp(`^00-${outer.spanContext().traceId}-[0-9a-f]{16}-01/${outer.spanContext().spanId}$`));
    await engine.waitForRun(listed?.id ?? "", { timeoutMs: 10_000 });
    await until(() => named("stepwise.run").length === 1);
    const runSpan = named("stepwise.run")[0];
    expect(runSpan?.spanContext().traceId).toBe(outer.spanContext().traceId);
    expect(parentId(runSpan as ReadableSpan)).toBe(outer.spanContext().spanId);
  });

  it("puts runs a step sends into the sending run's trace", async () => {
    const c = client();
    const parent = c.createFunction({ id: "parent" }, { event: "otel/parent" }, async ({ step }) => {
      await step.sendEvent("fan-out", { name: "otel/leaf" });
      return "sent";
    });
    const leaf = c.createFunction({ id: "leaf" }, { event: "otel/leaf" }, async () => "leaf");
    const { engine } = await startEngine({ client: c, functions: [parent, leaf], tracing });
    const run = await sendAndWait(engine, c, { name: "otel/parent" });
    await until(() => named("stepwise.run").length === 2);
    const runs = named("stepwise.run");
    const parentSpan = runs.find((s) => s.attributes["stepwise.run.id"] === run.id);
    const leafSpan = runs.find((s) => s.attributes["stepwise.function.id"] === "otel-leaf");
    expect(leafSpan?.spanContext().traceId).toBe(parentSpan?.spanContext().traceId);
    expect(parentId(leafSpan as ReadableSpan)).toBe(parentSpan?.spanContext().spanId);
  });

  it("marks a failed run's span as an error", async () => {
    const c = client();
    const fn = c.createFunction({ id: "fails", retries: 0 }, { event: "otel/fail" }, async () => {
      throw new Error("no luck");
    });
    const { engine } = await startEngine({ client: c, functions: [fn], tracing });
    const run = await sendAndWait(engine, c, { name: "otel/fail" });
    expect(run.status).toBe("Failed");
    await until(() => named("stepwise.run").length === 1);
    const runSpan = named("stepwise.run")[0];
    expect(runSpan?.status).toMatchObject({ code: 2, message: expect.stringContaining("no luck") });
    expect(runSpan?.attributes["stepwise.run.status"]).toBe("Failed");
    expect(named("stepwise.call")[0]?.status.code).toBe(2);
  });

  it("serve runs a served call inside the span its traceparent names (the app's spans join the run's trace)", async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const c = client();
      let seen: string | undefined;
      const fn = c.createFunction({ id: "served", triggers: [{ event: "otel/served" }] }, async () => {
        const span = trace.getSpanContext(context.active());
        seen = span && `${span.traceId}-${span.spanId}`;
        return "ok";
      });
      const handler = createServeHandler({ client: c, functions: [fn], isDev: true, env: {} });
      const event = { name: "otel/served", data: {}, id: "e1", ts: Date.now(), user: {} };
      const request = (headers: Record<string, string>) => ({
        method: "POST",
        url: "http://app.local/api/inngest?fnId=otel-served&stepId=step",
        headers,
        body: JSON.stringify({ event, events: [event], steps: {}, ctx: { run_id: "r1" } }),
      });
      const traced = await handler.handle(request({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }));
      expect(traced.status).toBe(200);
      expect(seen).toBe("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
      seen = "unset";
      expect((await handler.handle(request({}))).status).toBe(200);
      expect(seen).toBeUndefined();
    } finally {
      propagation.disable();
    }
  });

  it("a Connect call carries the active span as userTraceCtx, as the official worker reads it", () => {
    const sdkDir = dirname(require.resolve("inngest"));
    const { GatewayExecutorRequestData } = require(join(sdkDir, "proto/src/components/connect/protobuf/connect.cjs")) as {
      GatewayExecutorRequestData: { decode(bytes: Uint8Array): { userTraceCtx: Uint8Array } };
    };
    const { parseTraceCtx } = require(join(sdkDir, "components/connect/util.cjs")) as {
      parseTraceCtx(bytes: Uint8Array): { traceParent: string; traceState: string } | null;
    };
    const request = () =>
      GatewayExecutorRequestData.decode(
        connectWire.encode(connectWire.schemas.GatewayExecutorRequestData, { requestId: "r", appName: "a", userTraceCtx: connectTraceContext() }),
      );
    const span = provider.getTracer("test").startSpan("call");
    const inside = context.with(trace.setSpan(context.active(), span), request);
    span.end();
    const { traceId, spanId } = span.spanContext();
    expect(parseTraceCtx(inside.userTraceCtx)).toEqual({ traceParent: `00-${traceId}-${spanId}-01`, traceState: "" });
    expect(request().userTraceCtx).toHaveLength(0);
  });

  it("warns once when the tracer provider does not use StepwiseIdGenerator (the run span cannot take its recorded id)", async () => {
    const plainExporter = new InMemorySpanExporter();
    const plain = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(plainExporter)] });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    const c = client();
    const fn = c.createFunction({ id: "plain-ids" }, { event: "otel/plain-ids" }, async () => 1);
    const { engine } = await startEngine({ client: c, functions: [fn], tracing: { tracerProvider: plain }, logger });
    await sendAndWait(engine, c, { name: "otel/plain-ids" });
    await sendAndWait(engine, c, { name: "otel/plain-ids" });
    await until(() => plainExporter.getFinishedSpans().filter((s) => s.name === "stepwise.run").length === 2);
    expect(warnings.filter((w) => w.includes("StepwiseIdGenerator"))).toHaveLength(1);
    await plain.shutdown();
  });

  it("with tracing off, exports nothing and stores no trace context", async () => {
    trace.setGlobalTracerProvider(provider);
    try {
      const c = client();
      const fn = c.createFunction({ id: "plain" }, { event: "otel/plain" }, async ({ step }) => {
        await step.run("a", () => 1);
        await step.sleep("s", "10ms");
        return 1;
      });
      const { engine } = await startEngine({ client: c, functions: [fn] });
      const tracer = provider.getTracer("test");
      const outer = tracer.startSpan("request");
      const { ids } = await context.with(trace.setSpan(context.active(), outer), () => c.send({ name: "otel/plain" }));
      outer.end();
      const [listed] = await engine.listRuns({ eventId: ids[0] });
      const run = await engine.waitForRun(listed?.id ?? "", { timeoutMs: 10_000 });
      expect(run.status).toBe("Completed");
      expect(run.traceContext).toBeUndefined();
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["request"]);
    } finally {
      trace.disable();
    }
  });
});
