/**
 * The served floor: what an app's SDK costs by itself. The app serves the 3-step function
 * and is sent call requests as the Stepwise server sends them (checkpointing on), but the
 * "server" it checkpoints to answers `{}` at once and stores nothing. Its runs/s and CPU
 * per run bound what any server can reach with that SDK on this machine: the served
 * scenario's figures can only approach them.
 */
import { randomUUID } from "node:crypto";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve as inngestServe } from "inngest/node";
import { Stepwise } from "stepwise";
import { serve as stepwiseServe } from "stepwise/node";
import type { Row } from "../harness.ts";

type Listener = Parameters<typeof createServer>[1];
const warmup = 200;
const runs = 1_500;
const inFlight = 16;

function listen(listener: Listener): Promise<Server> {
  const server = createServer(listener);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
const portOf = (server: Server) => (server.address() as AddressInfo).port;

async function floor(label: string, makeApp: (baseUrl: string) => Listener): Promise<Row[]> {
  let checkpoints = 0;
  const nullServer = await listen((req, res) => {
    req.resume();
    req.on("end", () => {
      checkpoints++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  const app = await listen(makeApp(`http://127.0.0.1:${portOf(nullServer)}`));
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const call = (i: number) =>
    new Promise<number>((resolve, reject) => {
      const runId = `01BENCH${String(i).padStart(19, "0")}`;
      const event = { id: `evt-${i}`, name: "served/three", data: { i }, user: {}, ts: Date.now() };
      const body = JSON.stringify({
        event,
        events: [event],
        steps: {},
        ctx: {
          run_id: runId,
          attempt: 0,
          max_attempts: 4,
          disable_immediate_execution: false,
          use_api: false,
          stack: { stack: [], current: 0 },
          fn_id: "bench-three",
          qi_id: `item-${i}.token`,
        },
        version: -1,
      });
      const headers = {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "x-inngest-server-kind": "dev",
        "x-inngest-req-version": "-1",
        "x-request-id": randomUUID(),
      };
      const req = request(
        { host: "127.0.0.1", port: portOf(app), path: "/api/inngest?fnId=bench-three&stepId=step", method: "POST", headers, agent },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const drive = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          const status = await call(next++);
          // the run's end: 206 [RunComplete] (official SDK) or 200 with the return value
          if (status !== 206 && status !== 200) throw new Error(`${label}: the app answered ${status}, not the run's end`);
        }
      }),
    );
  };
  try {
    await drive(warmup);
    checkpoints = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    await drive(runs);
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return [
      { scenario: "served", metric: `${label} alone, null server: 3-step runs/s (${runs} runs)`, value: (runs / seconds).toFixed(0) },
      { scenario: "served", metric: `${label} alone, null server: CPU per 3-step run`, value: `${((used.user + used.system) / 1000 / runs).toFixed(2)} ms` },
      { scenario: "served", metric: `${label} alone, null server: checkpoints per run`, value: (checkpoints / runs).toFixed(2) },
    ];
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => app.close(() => resolve()));
    await new Promise<void>((resolve) => nullServer.close(() => resolve()));
  }
}

function official(baseUrl: string): Listener {
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const client = new Inngest({ id: "bench", isDev: true, baseUrl, logger: quiet });
  const fn = client.createFunction({ id: "three", triggers: [{ event: "served/three" }] }, async ({ step }) => {
    const a = await step.run("a", () => 1);
    const b = await step.run("b", () => a + 1);
    return step.run("c", () => b + 1);
  });
  return inngestServe({ client, functions: [fn] }) as Listener;
}

function ours(baseUrl: string): Listener {
  const client = new Stepwise({ id: "bench", isDev: true, baseUrl, logger: silentLogger });
  const fn = client.createFunction({ id: "three" }, { event: "served/three" }, async ({ step }) => {
    const a = await step.run("a", () => 1);
    const b = await step.run("b", () => a + 1);
    return step.run("c", () => b + 1);
  });
  return stepwiseServe({ client, functions: [fn] }) as Listener;
}

export async function servedFloor(): Promise<Row[]> {
  return [...(await floor("official inngest SDK", official)), ...(await floor("stepwise SDK", ours))];
}
