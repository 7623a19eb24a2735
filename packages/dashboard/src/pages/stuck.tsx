/**
 * @module stuck
 * "Stuck or slow": the queue's figures, the oldest queued runs and the longest running
 * runs, each with what it waits on (a concurrency slot, flow control, a worker, a sleep,
 * an event, an invoked function, a retry, its app).
 */
import { api, type Stuck, type StuckRun, type Wait } from "../api.ts";
import { Empty, ErrorNote, Link, StatusBadge, when } from "../components/common.tsx";
import { useLive } from "../components/use-live.ts";

function age(from: string | null, now: number): string {
  if (!from) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(from)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

const at = (ms: number | undefined) => (ms === undefined ? "" : ` until ${when(new Date(ms).toISOString())}`);

/** What a run waits on, in words. */
export function describeWait(w: Wait): string {
  switch (w.kind) {
    case "concurrency":
      return `a concurrency slot of ${w.key} (limit ${w.limit})`;
    case "throttle":
    case "debounce":
    case "batch":
    case "scheduled":
      return `${w.kind}${w.key ? ` ${w.key}` : ""}${at(w.until)}`;
    case "worker":
      return "a worker to claim it (due, not claimed)";
    case "app":
      return `its app, unreachable ${w.failures ?? 1}× (${w.reason ?? "no answer"}); next try${at(w.until)}`;
    case "sleep":
      return `sleep "${w.step}"${at(w.until)}`;
    case "event":
      return `event ${w.event ?? "?"} for step "${w.step}"${at(w.until)}`;
    case "invoke":
      return `invoked function ${w.function ?? "?"} (step "${w.step}")${at(w.until)}`;
    case "signal":
      return `signal ${w.signal ?? "?"} (step "${w.step}")${at(w.until)}`;
    case "retry":
      return `retry of step "${w.step}" (attempt ${(w.attempt ?? 0) + 1})${at(w.until)}`;
    default:
      return w.step ? `step "${w.step}" executing` : "its next call (executing or due)";
  }
}

function Table({ runs, now, since, testId }: { runs: StuckRun[]; now: number; since: "created" | "started"; testId: string }) {
  if (runs.length === 0) return <p className="muted">None.</p>;
  return (
    <table className="list" data-testid={testId} data-nav>
      <thead>
        <tr>
          <th>status</th>
          <th>function</th>
          <th>run</th>
          <th>{since === "created" ? "queued for" : "running for"}</th>
          <th>waiting on</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr
            key={run.run_id}
            tabIndex={0}
            data-href={`/runs/${run.run_id}`}
            data-wait={run.waiting_on.kind}
            aria-label={`run ${run.run_id} of ${run.function_id}, waiting on ${describeWait(run.waiting_on)}`}
            onClick={() => (location.hash = `/runs/${run.run_id}`)}
          >
            <td>
              <StatusBadge status={run.status} />
            </td>
            <td>{run.function_id}</td>
            <td className="mono">
              <Link to={`/runs/${run.run_id}`}>{run.run_id}</Link>
            </td>
            <td>{age(since === "created" ? run.created_at : run.run_started_at, now)}</td>
            <td>{describeWait(run.waiting_on)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function StuckPage() {
  const { data, error } = useLive<Stuck>(async () => (await api.stuck()).data, "stuck");
  if (!data) return <ErrorNote error={error} />;
  const now = Date.parse(data.now);
  const waiting = Object.entries(data.queue.waiting);
  return (
    <section>
      <h2>Stuck or slow</h2>
      <ErrorNote error={error} />
      <div className="figures" data-testid="queue">
        <div>
          <b>{data.queue.due}</b>
          <span>queue items due, unclaimed</span>
        </div>
        <div>
          <b>{data.queue.oldest_due_at ? age(data.queue.oldest_due_at, now) : "—"}</b>
          <span>oldest due item waiting</span>
        </div>
        <div>
          <b>{data.queue.leased}</b>
          <span>calls in flight</span>
        </div>
        <div>
          <b>{waiting.length ? waiting.map(([k, n]) => `${n} ${k}`).join(", ") : "0"}</b>
          <span>runs held by flow control</span>
        </div>
      </div>
      {data.queued.length === 0 && data.running.length === 0 ? (
        <Empty title="Nothing is waiting">
          <p>No run is queued or running right now.</p>
        </Empty>
      ) : (
        <>
          <h3>Oldest queued</h3>
          <Table runs={data.queued} now={now} since="created" testId="stuck-queued" />
          <h3>Longest running</h3>
          <Table runs={data.running} now={now} since="started" testId="stuck-running" />
        </>
      )}
    </section>
  );
}
