/**
 * Served mode over Connect: the same 1- and 3-step functions as the HTTP rows, served by the
 * official `inngest` SDK's `connect()` worker (`tests/compat/connect-worker.ts`, in a child
 * process: Node 20 gives the SDK a WebSocket only behind `--experimental-websocket`) over a
 * WebSocket to a Stepwise dev server. Throughput and per-step overhead.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { ms, percentile, type Row } from "../harness.ts";

const runs = 500;
const latencySamples = 200;
const workerFile = fileURLToPath(new URL("../../tests/compat/connect-worker.ts", import.meta.url));

export async function connectServed(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-connect-bench-"));
  const server = await runServer({ mode: "dev", port: 0, db: join(dir, "connect.db"), logRuns: false, dashboard: false, logger: silentLogger });
  const worker = spawn(process.execPath, ["--experimental-websocket", "--no-warnings", "--conditions=stepwise-source", "--import", "tsx", workerFile], {
    env: { ...process.env, STEPWISE_URL: server.url, WORKER_ID: "bench" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the Connect worker did not connect within 30 s")), 30_000);
      worker.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes('"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const { engine } = server;
    const ended = new Map<string, () => void>();
    engine.onRunEnded((runId) => ended.get(runId)?.());
    const waitEnd = (runId: string) => new Promise<void>((resolve) => ended.set(runId, resolve));
    const latency = async (samples: number) => {
      const one: number[] = [];
      const three: number[] = [];
      for (let i = 0; i < samples * 2; i++) {
        const name = i % 2 === 0 ? "connect/one" : "connect/three";
        const t0 = performance.now();
        const { ids } = await engine.send({ name, data: { i } });
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
    const start = performance.now();
    await engine.send(Array.from({ length: runs }, (_, i) => ({ name: "connect/three", data: { i } })));
    await finished;
    off();
    const rate = runs / ((performance.now() - start) / 1000);
    const label = "official inngest SDK over Connect";
    return [
      { scenario: "served", metric: `${label}: 3-step runs/s (${runs} runs)`, value: rate.toFixed(0) },
      { scenario: "served", metric: `${label}: 1-step send→completed p50`, value: ms(percentile(one, 50)) },
      { scenario: "served", metric: `${label}: 3-step send→completed p50`, value: ms(percentile(three, 50)) },
      { scenario: "served", metric: `${label}: per-step overhead p50`, value: ms((percentile(three, 50) - percentile(one, 50)) / 2) },
    ];
  } finally {
    worker.kill("SIGTERM");
    await exited;
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
