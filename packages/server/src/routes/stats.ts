/**
 * @module stats
 * A function's charts, aggregated from `Store.runStats`: per time bucket the runs per
 * minute by status, the failure rate and the p50 / p95 duration, and the same over the
 * whole range. Durations are the newest ended runs' (at most `durationSample`).
 */
import type { RunStats, RunStatus } from "@stepwise/engine";

export const statRanges = {
  "1h": { rangeMs: 3_600_000, bucketMs: 60_000 },
  "24h": { rangeMs: 86_400_000, bucketMs: 900_000 },
} as const;
export type StatRange = keyof typeof statRanges;

/** Most durations read per request (the newest ended runs of the range). */
export const durationSample = 5_000;

/** The nearest-rank percentile `p` (0..1) of sorted values; null without values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

const ended: ReadonlySet<string> = new Set(["Completed", "Failed", "Cancelled"]);

function summary(counts: Partial<Record<RunStatus, number>>, durations: number[]) {
  const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
  const finished = Object.entries(counts).reduce((a, [status, n]) => a + (ended.has(status) ? (n ?? 0) : 0), 0);
  const failed = counts.Failed ?? 0;
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    total,
    failed,
    // of the runs that ended: a run still going has not failed (yet)
    failure_rate: finished ? failed / finished : null,
    p50_ms: percentile(sorted, 0.5),
    p95_ms: percentile(sorted, 0.95),
  };
}

/** Every bucket of the range (empty ones too, so a chart's x axis is even), oldest first. */
export function aggregateStats(stats: RunStats, range: StatRange, now: number) {
  const { rangeMs, bucketMs } = statRanges[range];
  const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
  const from = to - rangeMs;
  const counted = new Map(stats.buckets.map((b) => [b.at, b.counts]));
  const durations = new Map<number, number[]>();
  for (const d of stats.durations) {
    const at = Math.floor(d.createdAt / bucketMs) * bucketMs;
    durations.set(at, [...(durations.get(at) ?? []), d.ms]);
  }
  const perMinute = 60_000 / bucketMs;
  const buckets = [];
  const totals: Partial<Record<RunStatus, number>> = {};
  for (let at = from; at < to; at += bucketMs) {
    const counts = counted.get(at) ?? {};
    for (const [status, n] of Object.entries(counts)) totals[status as RunStatus] = (totals[status as RunStatus] ?? 0) + (n ?? 0);
    buckets.push({
      at: new Date(at).toISOString(),
      counts,
      per_minute: Object.fromEntries(Object.entries(counts).map(([status, n]) => [status, (n ?? 0) * perMinute])),
      ...summary(counts, durations.get(at) ?? []),
    });
  }
  return {
    range,
    bucket_ms: bucketMs,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    buckets,
    totals: {
      counts: totals,
      ...summary(
        totals,
        stats.durations.map((d) => d.ms),
      ),
    },
    durations_sampled: stats.durations.length,
  };
}
