/**
 * Served mode: a 3-step function served over HTTP on loopback by an app, driven by a
 * Stepwise dev server (app and server in this one process). Throughput and per-step
 * overhead, for the official `inngest` SDK and for Stepwise's own `serve()`, and how many
 * HTTP calls the server makes to the app per 3-step run (1 when every step is
 * checkpointed in one call; 4 with the classic one-step-per-request protocol).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve as inngestServe } from "inngest/node";
import { Stepwise } from "stepwise";
import { serve as stepwiseServe } from "stepwise/node";
import { ms, percentile, type Row } from "../harness.ts";
import { connectServed } from "./connect.ts";

type Listener = Parameters<typeof createServer>[1];
interface AppUnderTest {
  label: string;
  send(events: Array<{ name: string; data: Record<string, unknown> }>): Promise<{ ids: string[] }>;
  listener: Listener;
}

const runs = 500;
const latencySamples = 200;

async function measure(makeApp: (baseUrl: string) => Promise<AppUnderTest>): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-served-"));
  const server = await runServer({ mode: "dev", port: 0, db: join(dir, "served.db"), logRuns: false, logger: silentLogger });
  let http: Server | undefined;
  try {
    const app = await makeApp(server.url);
    let appRequests = 0;
    http = createServer((req, res) => {
      if (req.method === "POST") appRequests++;
      (app.listener as (q: typeof req, s: typeof res) => void)(req, res);
    });
    await new Promise<void>((resolve) => http?.listen(0, "127.0.0.1", () => resolve()));
    const record = await server.server.apps.sync(`http://127.0.0.1:${(http.address() as { port: number }).port}/api/inngest`);
    if (record.error) throw new Error(record.error);
    const { engine } = server;
    const ended = new Map<string, () => void>();
    engine.onRunEnded((runId) => ended.get(runId)?.());
    const waitEnd = (runId: string) => new Promise<void>((resolve) => ended.set(runId, resolve));

    // 1-step and 3-step samples alternate, so both see the same conditions
    const latency = async (samples: number) => {
      const one: number[] = [];
      const three: number[] = [];
      for (let i = 0; i < samples * 2; i++) {
        const name = i % 2 === 0 ? "served/one" : "served/three";
        const t0 = performance.now();
        const { ids } = await app.send([{ name, data: { i } }]);
        const [run] = await engine.listRuns({ eventId: ids[0] as string });
        const done = waitEnd(run?.id as string);
        if ((await engine.getRun(run?.id as string))?.status !== "Completed") await done;
        (i % 2 === 0 ? one : three).push(performance.now() - t0);
      }
      return { one: one.sort((a, b) => a - b), three: three.sort((a, b) => a - b) };
    };
    await latency(20);
    const { one, three } = await latency(latencySamples);

    let count = 0;
    let all!: () => void;
    const finished = new Promise<void>((resolve) => (all = resolve));
    const off = engine.onRunEnded(() => {
      if (++count === runs) all();
    });
    appRequests = 0;
    const start = performance.now();
    await app.send(Array.from({ length: runs }, (_, i) => ({ name: "served/three", data: { i } })));
    await finished;
    off();
    const rate = runs / ((performance.now() - start) / 1000);
    const label = app.label;
    return [
      { scenario: "served", metric: `${label}: 3-step runs/s (${runs} runs)`, value: rate.toFixed(0) },
      { scenario: "served", metric: `${label}: 1-step send→completed p50`, value: ms(percentile(one, 50)) },
      { scenario: "served", metric: `${label}: 1-step send→completed p99`, value: ms(percentile(one, 99)) },
      { scenario: "served", metric: `${label}: 3-step send→completed p50`, value: ms(percentile(three, 50)) },
      { scenario: "served", metric: `${label}: per-step overhead p50`, value: ms((percentile(three, 50) - percentile(one, 50)) / 2) },
      { scenario: "served", metric: `${label}: requests to the app per 3-step run`, value: (appRequests / runs).toFixed(2) },
    ];
  } finally {
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function official(baseUrl: string): Promise<AppUnderTest> {
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const client = new Inngest({ id: "bench", isDev: true, baseUrl, logger: quiet });
  const functions = [
    client.createFunction({ id: "one", triggers: [{ event: "served/one" }] }, async ({ step }) => step.run("a", () => 1)),
    client.createFunction({ id: "three", triggers: [{ event: "served/three" }] }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      const b = await step.run("b", () => a + 1);
      return step.run("c", () => b + 1);
    }),
  ];
  return { label: "official inngest SDK", send: (events) => client.send(events), listener: inngestServe({ client, functions }) as Listener };
}

async function ours(baseUrl: string): Promise<AppUnderTest> {
  const client = new Stepwise({ id: "bench", isDev: true, baseUrl, logger: silentLogger });
  const functions = [
    client.createFunction({ id: "one" }, { event: "served/one" }, async ({ step }) => step.run("a", () => 1)),
    client.createFunction({ id: "three" }, { event: "served/three" }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      const b = await step.run("b", () => a + 1);
      return step.run("c", () => b + 1);
    }),
  ];
  return { label: "stepwise SDK", send: (events) => client.send(events), listener: stepwiseServe({ client, functions }) as Listener };
}

export async function served(): Promise<Row[]> {
  return [...(await measure(official)), ...(await measure(ours)), ...(await connectServed())];
}
