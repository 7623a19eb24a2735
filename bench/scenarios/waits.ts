/**
 * Waits and timers: matching one event among 100,000 pending waits, and how late 10,000
 * one-second sleeps wake.
 */
import type { Stepwise } from "stepwise";
import { type Engine, findPauseCandidates, toEventRecord } from "stepwise/engine";
import { ms, peakRss, percentile, type Row, withEngine } from "../harness.ts";

const pendingWaits = 100_000;
const matchSamples = 300;
const sleepers = 10_000;

async function untilNoneQueued(engine: Engine, functionId: string) {
  for (;;) {
    const queued = await engine.listRuns({ functionId, status: "Queued", limit: 1 });
    if (queued.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function matching(): Promise<Row[]> {
  const define = (client: Stepwise) => [
    client.createFunction({ id: "wait" }, { event: "bench/wait" }, async ({ step }) =>
      step.waitForEvent("signal", { event: "bench/signal", match: "data.key", timeout: "1d" }),
    ),
  ];
  const { result, peakMb } = await peakRss(() =>
    withEngine(define, async (engine, client) => {
      const start = performance.now();
      for (let i = 0; i < pendingWaits; i += 2_000) {
        await client.send(Array.from({ length: 2_000 }, (_, j) => ({ name: "bench/wait", data: { key: `k${i + j}` } })));
      }
      await untilNoneQueued(engine, "bench-wait");
      // let the last claimed calls reach their waits
      await new Promise((r) => setTimeout(r, 2_000));
      const setupS = (performance.now() - start) / 1000;
      // 1. the lookup alone: the pauses one incoming event can match, among 100k
      const lookups: number[] = [];
      for (let i = 0; i < 2_000; i++) {
        const event = toEventRecord({ name: "bench/signal", data: { key: `k${(i * 7_919) % pendingWaits}` } }, Date.now());
        const t0 = performance.now();
        const found = await findPauseCandidates(engine.store, event);
        lookups.push(performance.now() - t0);
        if (found.length !== 1) throw new Error(`expected one candidate pause for ${event.data.key}, found ${found.length}`);
      }
      // 2. end to end: send the event; it is stored, matched and the run resumed (committed)
      const samples: number[] = [];
      for (let i = 0; i < matchSamples; i++) {
        const key = `k${Math.floor((i * pendingWaits) / matchSamples)}`;
        const t0 = performance.now();
        await client.send({ name: "bench/signal", data: { key } });
        samples.push(performance.now() - t0);
      }
      // each resumed run finishes in its own call: give the last ones a moment
      let resumed = 0;
      for (let tries = 0; tries < 100 && resumed < matchSamples; tries++) {
        await new Promise((r) => setTimeout(r, 20));
        resumed = (await engine.listRuns({ functionId: "bench-wait", status: "Completed", limit: 1000 })).length;
      }
      return { samples: samples.sort((a, b) => a - b), lookups: lookups.sort((a, b) => a - b), setupS, resumed };
    }),
  );
  return [
    { scenario: "waits", metric: `set up ${pendingWaits.toLocaleString("en")} waiting runs`, value: `${result.setupS.toFixed(1)} s` },
    { scenario: "waits", metric: "match one event among 100k waits (lookup) p50", value: ms(percentile(result.lookups, 50)) },
    { scenario: "waits", metric: "match one event among 100k waits (lookup) p99", value: ms(percentile(result.lookups, 99)), target: "≤ 1 ms" },
    { scenario: "waits", metric: "match one event among 100k waits (send→resumed) p50", value: ms(percentile(result.samples, 50)) },
    { scenario: "waits", metric: "match one event among 100k waits (send→resumed) p99", value: ms(percentile(result.samples, 99)) },
    { scenario: "waits", metric: `runs resumed by ${matchSamples} events (must be ${matchSamples})`, value: String(result.resumed) },
    { scenario: "waits", metric: "peak RSS", value: `${peakMb.toFixed(0)} MB` },
  ];
}

async function sleepingAt(ratePerS: number): Promise<Row[]> {
  const define = (client: Stepwise) => [
    client.createFunction({ id: "sleeper" }, { event: "bench/sleep" }, async ({ step }) => {
      const wakeAt = await step.run("plan", () => Date.now() + 1_000);
      await step.sleepUntil("nap", new Date(wakeAt));
      return step.run("woke", () => Date.now() - wakeAt);
    }),
  ];
  /** Starts `count` runs at `ratePerS`, 10 at a time, and collects how late each woke. */
  const wave = async (engine: Engine, client: Stepwise, count: number) => {
    const lateness: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const off = engine.onRunEnded(async (runId) => {
      const run = await engine.getRun(runId);
      lateness.push(run?.output as number);
      if (lateness.length === count) done();
    });
    const everyMs = (10 / ratePerS) * 1000;
    for (let i = 0; i < count; i += 10) {
      const next = performance.now() + everyMs;
      await client.send(Array.from({ length: 10 }, () => ({ name: "bench/sleep" })));
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    await all;
    off();
    return lateness.sort((a, b) => a - b);
  };
  const { result, peakMb } = await peakRss(() =>
    withEngine(
      define,
      async (engine, client) => {
        await wave(engine, client, 1_000); // warm-up, not measured
        return wave(engine, client, sleepers);
      },
      { concurrency: 64 },
    ),
  );
  return [
    {
      scenario: "sleeps",
      metric: `${sleepers.toLocaleString("en")} runs (started at ${ratePerS.toLocaleString("en")}/s) sleeping 1 s: lateness p50`,
      value: ms(percentile(result, 50)),
    },
    {
      scenario: "sleeps",
      metric: `${sleepers.toLocaleString("en")} runs (started at ${ratePerS.toLocaleString("en")}/s) sleeping 1 s: lateness p99`,
      value: ms(percentile(result, 99)),
      target: "≤ 50 ms",
    },
    { scenario: "sleeps", metric: `peak RSS (started at ${ratePerS.toLocaleString("en")}/s)`, value: `${peakMb.toFixed(0)} MB` },
  ];
}

export async function waits(): Promise<Row[]> {
  return [...(await matching()), ...(await sleeping())];
}

async function sleeping(): Promise<Row[]> {
  return [...(await sleepingAt(1_000)), ...(await sleepingAt(2_000))];
}

export { sleeping };
