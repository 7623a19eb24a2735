/**
 * Concurrency keys: 10,000 runs across 1,000 keys with `concurrency: { limit: 2, key }`,
 * against the same runs with no limit; and how evenly keys progress (max/min completions
 * per key when half the runs are done).
 */
import type { Stepwise } from "stepwise";
import type { Engine } from "stepwise/engine";
import { peakRss, type Row, withEngine } from "../harness.ts";

const runs = 10_000;
const keys = 1_000;

async function drive(engine: Engine, client: Stepwise, name: string) {
  const perKey = new Map<string, number>();
  let done = 0;
  let half: Map<string, number> | undefined;
  let finished!: () => void;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const off = engine.onRunEnded(async (runId) => {
    const run = await engine.getRun(runId);
    const key = String((run?.output as { key: string } | undefined)?.key);
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    if (++done === runs / 2) half = new Map(perKey);
    if (done === runs) finished();
  });
  const start = performance.now();
  for (let i = 0; i < runs; i += 1_000) {
    await client.send(Array.from({ length: 1_000 }, (_, j) => ({ name, data: { key: `k${(i + j) % keys}` } })));
  }
  await all;
  off();
  const rate = runs / ((performance.now() - start) / 1000);
  const counts = [...(half ?? perKey).values()];
  const missing = keys - counts.length;
  return { rate, spread: missing > 0 ? Number.POSITIVE_INFINITY : Math.max(...counts) / Math.min(...counts), missing };
}

export async function flow(): Promise<Row[]> {
  const define = (client: Stepwise) => {
    const body = async ({ event, step }: { event: { data: Record<string, unknown> }; step: { run: <T>(id: string, fn: () => T) => Promise<unknown> } }) => {
      await step.run("a", () => 1);
      await step.run("b", () => 2);
      return { key: event.data.key };
    };
    return [
      client.createFunction({ id: "free" }, { event: "flow/free" }, body as never),
      client.createFunction({ id: "keyed", concurrency: { limit: 2, key: "event.data.key" } }, { event: "flow/keyed" }, body as never),
    ];
  };
  const free = await peakRss(() => withEngine(define, (engine, client) => drive(engine, client, "flow/free")));
  const keyed = await peakRss(() => withEngine(define, (engine, client) => drive(engine, client, "flow/keyed")));
  return [
    { scenario: "flow", metric: "no limit: 2-step runs/s (10,000 runs, 1,000 keys)", value: free.result.rate.toFixed(0) },
    { scenario: "flow", metric: "concurrency { limit: 2, key }: runs/s", value: keyed.result.rate.toFixed(0) },
    { scenario: "flow", metric: "keyed throughput vs no limit", value: `${((keyed.result.rate / free.result.rate) * 100).toFixed(0)}%`, target: "≥ 80%" },
    {
      scenario: "flow",
      metric: "fairness at half-time: max/min completions per key",
      value: keyed.result.missing ? `${keyed.result.missing} keys had none` : keyed.result.spread.toFixed(2),
    },
    { scenario: "flow", metric: "peak RSS (keyed)", value: `${keyed.peakMb.toFixed(0)} MB` },
  ];
}
