/**
 * Core engine: throughput of 3-step runs, and send→completed latency of 1- and 3-step
 * functions, in-process on SQLite with commits that survive a killed process.
 */

import type { Stepwise } from "stepwise";
import type { Engine } from "stepwise/engine";
import { cpuPer1k, cpuSecondsSince, ms, peakRss, percentile, type Row, withEngine } from "../harness.ts";

export const define = (client: Stepwise) => [
  client.createFunction({ id: "one" }, { event: "bench/one" }, async ({ step }) => step.run("a", () => 1)),
  client.createFunction({ id: "three" }, { event: "bench/three" }, async ({ step }) => {
    const a = await step.run("a", () => 1);
    const b = await step.run("b", () => a + 1);
    return step.run("c", () => b + 1);
  }),
];

/** Sends `runs` 3-step events in sends of 500 and waits for every run to end: runs/s and the CPU time it took. */
export async function throughput(engine: Engine, client: Stepwise, runs: number) {
  let ended = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const off = engine.onRunEnded(() => {
    if (++ended === runs) done();
  });
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let sent = 0; sent < runs; sent += 500) {
    await client.send(Array.from({ length: Math.min(500, runs - sent) }, (_, i) => ({ name: "bench/three", data: { i: sent + i } })));
  }
  await all;
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  off();
  return { rate: runs / seconds, cpuSeconds };
}

/**
 * send→completed latencies of 1-step and 3-step runs, sampled alternately so both see the
 * same machine conditions (the per-step overhead is their difference).
 */
async function latency(engine: Engine, client: Stepwise, samples: number) {
  const one: number[] = [];
  const three: number[] = [];
  let resolveEnd: (() => void) | undefined;
  const off = engine.onRunEnded(() => resolveEnd?.());
  for (let i = 0; i < samples * 2; i++) {
    const name = i % 2 === 0 ? "bench/one" : "bench/three";
    const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
    const t0 = performance.now();
    await client.send({ name, data: { i } });
    await ended;
    (i % 2 === 0 ? one : three).push(performance.now() - t0);
  }
  off();
  return { one: one.sort((a, b) => a - b), three: three.sort((a, b) => a - b) };
}

export async function core(): Promise<Row[]> {
  const rows: Row[] = [];
  const { result: batched, peakMb } = await peakRss(() =>
    withEngine(define, async (engine, client) => {
      await throughput(engine, client, 200); // warm-up
      return throughput(engine, client, 2_000);
    }),
  );
  rows.push({ scenario: "core", metric: "3-step runs/s (2,000 runs)", value: batched.rate.toFixed(0), target: "≥ 2,000" });
  rows.push({ scenario: "core", metric: "3-step throughput: CPU per 1,000 runs", value: cpuPer1k(batched.cpuSeconds, 2_000) });
  rows.push({ scenario: "core", metric: "peak RSS during throughput", value: `${peakMb.toFixed(0)} MB` });

  const { result: lat, peakMb: latPeak } = await peakRss(() =>
    withEngine(define, async (engine, client) => {
      await latency(engine, client, 300); // warm-up
      return latency(engine, client, 2_000);
    }),
  );
  const [p50one, p99one, p50three, p99three] = [percentile(lat.one, 50), percentile(lat.one, 99), percentile(lat.three, 50), percentile(lat.three, 99)];
  rows.push({ scenario: "core", metric: "1-step send→completed p50", value: ms(p50one), target: "≤ 1 ms" });
  rows.push({ scenario: "core", metric: "1-step send→completed p99", value: ms(p99one) });
  rows.push({ scenario: "core", metric: "3-step send→completed p50", value: ms(p50three) });
  rows.push({ scenario: "core", metric: "3-step send→completed p99", value: ms(p99three) });
  rows.push({ scenario: "core", metric: "per-step overhead p50 ((3-step − 1-step) / 2)", value: ms((p50three - p50one) / 2), target: "≤ 0.2 ms" });
  rows.push({ scenario: "core", metric: "peak RSS during latency", value: `${latPeak.toFixed(0)} MB` });
  return rows;
}
