/**
 * @module function-detail
 * One function's charts over the last hour or day (a switch): runs per minute by status,
 * p50 / p95 duration and failure rate, aggregated by the server from the store.
 */
import { useState } from "react";
import { api, type FunctionStats } from "../api.ts";
import { Lines, ms, StackedBars, statusColors } from "../components/charts.tsx";
import { ErrorNote, Link } from "../components/common.tsx";
import { useLive } from "../components/use-live.ts";

const statuses = ["Completed", "Failed", "Running", "Queued", "Cancelled", "Skipped"];
const pct = (v: number) => `${Math.round(v * 100)}%`;
const rate = (v: number) => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

function timeLabel(iso: string, range: "1h" | "24h") {
  const d = new Date(iso);
  return range === "1h"
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false })
    : d.toLocaleString(undefined, { hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function FunctionDetailPage({ id }: { id: string }) {
  const [range, setRange] = useState<"1h" | "24h">("1h");
  const { data, error } = useLive<FunctionStats>(async () => (await api.stats(id, range)).data, `${id}:${range}`);
  return (
    <section className="detail">
      <div className="detail-head">
        <div>
          <h2>{id}</h2>
          <Link to={`/runs?function=${encodeURIComponent(id)}`} className="muted">
            runs of this function
          </Link>
        </div>
        <span className="spacer" />
        <fieldset className="seg" aria-label="time range" style={{ padding: 0, margin: 0 }}>
          {(["1h", "24h"] as const).map((r) => (
            <button key={r} type="button" aria-pressed={range === r} onClick={() => setRange(r)}>
              last {r === "1h" ? "hour" : "day"}
            </button>
          ))}
        </fieldset>
      </div>
      <ErrorNote error={error} />
      {data && data.range === range ? <Charts stats={data} /> : <p className="muted">Loading…</p>}
    </section>
  );
}

function Charts({ stats }: { stats: FunctionStats }) {
  const labels: [string, string] = [timeLabel(stats.from, stats.range), timeLabel(stats.to, stats.range)];
  const t = stats.totals;
  return (
    <>
      <div className="figures" data-testid="figures">
        <div>
          <b data-testid="total-runs">{t.total}</b>
          <span>runs</span>
        </div>
        <div>
          <b data-testid="failure-rate">{t.failure_rate === null ? "—" : pct(t.failure_rate)}</b>
          <span>failure rate (of ended runs)</span>
        </div>
        <div>
          <b data-testid="p50">{t.p50_ms === null ? "—" : ms(t.p50_ms)}</b>
          <span>p50 duration</span>
        </div>
        <div>
          <b data-testid="p95">{t.p95_ms === null ? "—" : ms(t.p95_ms)}</b>
          <span>p95 duration</span>
        </div>
      </div>
      <div className="charts">
        <div className="chart" data-testid="chart-rate">
          <h4>runs / min by status</h4>
          <StackedBars
            label="runs per minute by status"
            rows={stats.buckets.map((b) => b.per_minute as Record<string, number>)}
            keys={statuses}
            labels={labels}
            format={rate}
          />
        </div>
        <div className="chart" data-testid="chart-duration">
          <h4>duration p50 / p95</h4>
          <Lines
            label="p50 and p95 duration"
            labels={labels}
            format={ms}
            series={[
              { name: "p50", color: "var(--accent)", values: stats.buckets.map((b) => b.p50_ms) },
              { name: "p95", color: "var(--warn)", values: stats.buckets.map((b) => b.p95_ms) },
            ]}
          />
        </div>
        <div className="chart" data-testid="chart-failures">
          <h4>failure rate</h4>
          <Lines
            label="failure rate"
            labels={labels}
            format={pct}
            max={1}
            series={[{ name: "failed / ended", color: statusColors.Failed as string, values: stats.buckets.map((b) => b.failure_rate) }]}
          />
        </div>
      </div>
      <p className="muted">
        {stats.range === "1h" ? "1-minute" : "15-minute"} buckets by creation time; durations of the newest {stats.durations_sampled} ended runs.
      </p>
    </>
  );
}
