/**
 * Shared bench helpers: a fresh engine on a temp SQLite file (real commits, WAL), timing,
 * percentiles, and peak RSS sampling.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine } from "stepwise/engine";

export interface Row {
  scenario: string;
  metric: string;
  value: string;
  target?: string;
}

export async function withEngine<T>(
  define: (client: Stepwise) => Parameters<Engine["register"]>[0]["functions"],
  body: (engine: Engine, client: Stepwise) => Promise<T>,
  /** `concurrency`: the engine's worker slots (256 unless given; "engine-default" leaves the engine's own default). */
  options: { concurrency?: number | "engine-default"; durability?: "normal" | "full" } = {},
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-"));
  const client = new Stepwise({ id: "bench", logger: silentLogger });
  const concurrency = options.concurrency ?? 256;
  const engine = await createEngine({
    database: join(dir, "bench.db"),
    logger: silentLogger,
    ...(concurrency === "engine-default" ? {} : { concurrency }),
    ...(options.durability ? { durability: options.durability } : {}),
  });
  engine.register({ client, functions: define(client) });
  await engine.start();
  try {
    return await body(engine, client);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export const ms = (value: number) => `${value.toFixed(3)} ms`;

/** Samples RSS every 10 ms while `body` runs; returns its result and the peak in MB. */
export async function peakRss<T>(body: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await body();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakMb: peak / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}

/** Process CPU time (user + system, every thread) since `start` (a `process.cpuUsage()`), in seconds. */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** CPU-seconds per 1,000 runs, for a row. */
export const cpuPer1k = (cpuSeconds: number, runs: number) => `${(cpuSeconds / (runs / 1000)).toFixed(3)} CPU-s`;

/** Resolves with `promise`'s value, or with `undefined` once `timeoutMs` have passed. */
export async function within<T>(timeoutMs: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
