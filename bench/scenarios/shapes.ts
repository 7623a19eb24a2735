/**
 * Load shapes beyond the batched throughput row: a backlog of 2,000 runs behind one
 * concurrency key (`limit: 1`); the 3-step throughput row with `durability: "full"` (an
 * fsync per commit), next to the same row at the default durability; and the shape other
 * engines are usually measured in: one event per send, 32 sends in flight, each awaited
 * until its run ends. Each measured part gives up after `timeoutMs` and says so in its row.
 */
import type { Stepwise } from "stepwise";
import { type Engine, RunStatus } from "stepwise/engine";
import { cpuPer1k, cpuSecondsSince, peakRss, type Row, withEngine, within } from "../harness.ts";
import { define as defineThree, throughput } from "./core.ts";

const runs = 2_000;
const timeoutMs = 40_000;
const didNotFinish = (ended: number) =>
  `did not finish in ${timeoutMs / 1000} s (${ended.toLocaleString("en-US")} of ${runs.toLocaleString("en-US")} runs ended)`;

/** How many runs are Running at once; listRuns is capped at 1,000, so the cap reads as "≥ 1000". */
const running = async (engine: Engine) => (await engine.listRuns({ status: RunStatus.Running, limit: 1000 })).length;
const atLeast = (count: number) => (count >= 1000 ? "≥ 1000" : String(count));

/**
 * `count` 3-step runs, all with concurrency key `key`, sent in sends of 500. Samples how
 * many are Running once the last send returns, and the most seen (every 250 ms) until all end.
 */
async function backlog(engine: Engine, client: Stepwise, count: number, key: string) {
  let ended = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const off = engine.onRunEnded(() => {
    if (++ended === count) done();
  });
  let most = 0;
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling) return;
    sampling = true;
    void running(engine)
      .then((now) => (most = Math.max(most, now)))
      .finally(() => (sampling = false));
  }, 250);
  try {
    const start = performance.now();
    for (let sent = 0; sent < count; sent += 500) {
      await client.send(Array.from({ length: Math.min(500, count - sent) }, (_, i) => ({ name: "shapes/keyed", data: { k: key, i: sent + i } })));
    }
    const afterSend = await running(engine);
    most = Math.max(most, afterSend);
    const finished = await within(
      timeoutMs,
      all.then(() => true),
    );
    const seconds = (performance.now() - start) / 1000;
    return { finished: finished === true, ended, rate: count / seconds, afterSend: atLeast(afterSend), most: atLeast(most) };
  } finally {
    clearInterval(sampler);
    off();
  }
}

/**
 * 32 workers, each looping: send one event, wait for the run it started to end.
 *
 * Mapping an event to its run: `send` returns the event's id, and `listRuns({ eventId })`
 * (an indexed lookup, one per run) gives the run id; a run-ended listener keyed by run id
 * then resolves the wait. A run that ends before its id is known is kept in `endedEarly`,
 * so nothing is missed. This is what a caller outside the engine would do, and it costs one
 * small query per run, which is counted in the CPU figure. `waitForRun` would do the same
 * but adds a 1 s poll timer and two reads per run.
 */
async function inFlight(engine: Engine, client: Stepwise, count: number, parallel: number) {
  const waiters = new Map<string, () => void>();
  const endedEarly = new Set<string>();
  let ended = 0;
  const off = engine.onRunEnded((runId) => {
    ended++;
    const wake = waiters.get(runId);
    if (wake) {
      waiters.delete(runId);
      wake();
    } else endedEarly.add(runId);
  });
  const runEnded = (runId: string) => {
    if (endedEarly.delete(runId)) return Promise.resolve();
    return new Promise<void>((resolve) => waiters.set(runId, resolve));
  };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { ids } = await client.send({ name: "bench/three", data: { i } });
      const [run] = await engine.listRuns({ eventId: ids[0] as string, limit: 1 });
      if (!run) throw new Error(`event ${ids[0]} started no run`);
      await runEnded(run.id);
    }
  };
  try {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const finished = await within(
      timeoutMs,
      Promise.all(Array.from({ length: parallel }, worker)).then(() => true),
    );
    const seconds = (performance.now() - start) / 1000;
    return { finished: finished === true, ended, rate: count / seconds, cpuSeconds: cpuSecondsSince(cpu) };
  } finally {
    off();
  }
}

export async function shapes(): Promise<Row[]> {
  const rows: Row[] = [];

  // 1. Backlog behind one concurrency key; the engine's own worker concurrency.
  const defineKeyed = (client: Stepwise) => [
    client.createFunction({ id: "keyed", concurrency: { limit: 1, key: "event.data.k" } }, { event: "shapes/keyed" }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      const b = await step.run("b", () => a + 1);
      return step.run("c", () => b + 1);
    }),
  ];
  const keyed = await peakRss(() =>
    withEngine(
      defineKeyed,
      async (engine, client) => {
        await backlog(engine, client, 100, "warm-up");
        return backlog(engine, client, runs, "one");
      },
      { concurrency: "engine-default" },
    ),
  );
  const label = "backlog: 2,000 3-step runs, one key, concurrency { limit: 1, key }";
  rows.push({ scenario: "shapes", metric: `${label}: runs/s`, value: keyed.result.finished ? keyed.result.rate.toFixed(0) : didNotFinish(keyed.result.ended) });
  rows.push({ scenario: "shapes", metric: "backlog: runs Running once the backlog is sent", value: keyed.result.afterSend, target: "≤ 1" });
  rows.push({ scenario: "shapes", metric: "backlog: most runs Running at once (sampled every 250 ms)", value: keyed.result.most, target: "≤ 1" });
  rows.push({ scenario: "shapes", metric: "backlog: peak RSS", value: `${keyed.peakMb.toFixed(0)} MB` });

  // 2. The batched 3-step throughput row with an fsync per commit, next to the same row
  // with the default durability in this process (rows from different processes on a
  // small machine differ by more than the fsyncs cost).
  const batched = (durability: "normal" | "full") =>
    withEngine(
      defineThree,
      async (engine, client) => {
        await throughput(engine, client, 200); // warm-up
        return within(timeoutMs, throughput(engine, client, runs));
      },
      { durability },
    );
  const normal = await batched("normal");
  const full = await batched("full");
  const rate = (result: typeof full) => (result ? result.rate.toFixed(0) : `did not finish in ${timeoutMs / 1000} s`);
  rows.push({ scenario: "shapes", metric: 'durability "full": 3-step runs/s (2,000 runs)', value: rate(full) });
  rows.push({ scenario: "shapes", metric: 'durability "full": CPU per 1,000 runs', value: full ? cpuPer1k(full.cpuSeconds, runs) : "—" });
  rows.push({ scenario: "shapes", metric: 'same row, durability "normal" (same process)', value: rate(normal) });

  // 3. One event per send, 32 in flight, each awaited to its run's end.
  const shaped = await withEngine(defineThree, async (engine, client) => {
    await inFlight(engine, client, 200, 32); // warm-up
    return inFlight(engine, client, runs, 32);
  });
  const inFlightLabel = "32 sends in flight, 1 event each, awaited to run end";
  rows.push({
    scenario: "shapes",
    metric: `${inFlightLabel}: 3-step runs/s (2,000 runs)`,
    value: shaped.finished ? shaped.rate.toFixed(0) : didNotFinish(shaped.ended),
  });
  rows.push({ scenario: "shapes", metric: `${inFlightLabel}: CPU per 1,000 runs`, value: shaped.finished ? cpuPer1k(shaped.cpuSeconds, runs) : "—" });
  return rows;
}
