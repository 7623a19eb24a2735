/**
 * @module runs
 * The run list: live (server-sent events), filtered by function, status and time,
 * searchable by run or event id, paged by cursor; bulk cancel, and bulk replay (a
 * background job: see the Replays page). Rows are reachable by keyboard (j / k, Enter).
 */
import { useCallback, useEffect, useState } from "react";
import { api, type FunctionInfo, type Run, subscribe } from "../api.ts";
import { duration, Empty, ErrorNote, Link, StatusBadge, when } from "../components/common.tsx";

const statuses = ["", "Queued", "Running", "Completed", "Failed", "Cancelled", "Skipped"];
const ranges: Record<string, number | undefined> = { "": undefined, "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 };

export function RunsPage({ navigate, initialFunction }: { navigate: (to: string) => void; initialFunction?: string | undefined }) {
  const [functions, setFunctions] = useState<FunctionInfo[]>([]);
  const [fn, setFn] = useState(initialFunction ?? "");
  const [status, setStatus] = useState("");
  const [range, setRange] = useState("");
  const [search, setSearch] = useState("");
  const [runs, setRuns] = useState<Run[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  const from = ranges[range] ? new Date(Date.now() - (ranges[range] as number)).toISOString() : undefined;
  const load = useCallback(async () => {
    try {
      const page = await api.runs({ function_id: fn || undefined, status: status || undefined, from, limit: "50" });
      setRuns(page.data);
      setCursor(page.data.length === 50 ? page.cursor : null);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }, [fn, status, from]);

  useEffect(() => {
    void load();
    return subscribe(() => void load());
  }, [load]);
  useEffect(() => {
    api.functions().then((r) => setFunctions(r.data), setError);
  }, []);

  const more = async () => {
    if (!cursor) return;
    const page = await api.runs({ function_id: fn || undefined, status: status || undefined, from, limit: "50", cursor });
    setRuns((prev) => [...prev, ...page.data]);
    setCursor(page.data.length === 50 ? page.cursor : null);
  };

  const find = async () => {
    const id = search.trim();
    if (!id) return;
    try {
      await api.run(id);
      navigate(`/runs/${id}`);
    } catch {
      try {
        await api.event(id);
        navigate(`/events/${id}`);
      } catch {
        setError(new Error(`no run or event with id ${id}`));
      }
    }
  };

  const bulk = async (action: "cancel" | "replay") => {
    if (!fn) return setError(new Error("choose a function first: bulk actions apply to one function"));
    const what = `${action} ${status || (action === "cancel" ? "unfinished" : "failed and cancelled")} runs of ${fn}${range ? ` from the last ${range}` : ""}`;
    if (!window.confirm(`${what}?`)) return;
    try {
      if (action === "replay") {
        // a background job with progress, on the Replays page
        await api.replay({ function_id: fn, ...(status ? { statuses: [status] } : {}), ...(from ? { from } : {}) });
        navigate(`/replays?function=${encodeURIComponent(fn)}`);
        return;
      }
      const r = await api.bulk(action, { function_id: fn, ...(status ? { status } : {}), ...(from ? { from } : {}) });
      setNotice(`cancelled ${r.data.cancelled} runs`);
      void load();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section>
      <div className="toolbar">
        <select aria-label="function" value={fn} onChange={(e) => setFn(e.target.value)}>
          <option value="">all functions</option>
          {functions.map((f) => (
            <option key={f.id} value={f.id}>
              {f.id}
            </option>
          ))}
        </select>
        <select aria-label="status" value={status} onChange={(e) => setStatus(e.target.value)}>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {s || "any status"}
            </option>
          ))}
        </select>
        <select aria-label="time" value={range} onChange={(e) => setRange(e.target.value)}>
          {Object.keys(ranges).map((r) => (
            <option key={r} value={r}>
              {r ? `last ${r}` : "any time"}
            </option>
          ))}
        </select>
        <input
          aria-label="search"
          data-search
          placeholder="run id or event id"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          onKeyDown={(e) => e.key === "Enter" && void find()}
        />
        <span className="spacer" />
        <button type="button" className="secondary" onClick={() => void bulk("cancel")}>
          Cancel matching
        </button>
        <button type="button" className="secondary" onClick={() => void bulk("replay")}>
          Replay matching
        </button>
      </div>
      <ErrorNote error={error} />
      {notice ? <div className="notice">{notice}</div> : null}
      {runs.length === 0 ? (
        <Empty title="No runs yet">
          <p>Send an event and its runs appear here as they happen:</p>
          <pre className="json">{`await client.send({ name: "app/user.signed-up", data: { userId: "u_1" } });\n\ncurl -X POST ${location.origin}/e/dev -d '{"name":"app/hello","data":{}}'`}</pre>
        </Empty>
      ) : (
        <table className="list" data-testid="runs" data-nav>
          <thead>
            <tr>
              <th>status</th>
              <th>function</th>
              <th>run</th>
              <th>started</th>
              <th>duration</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr
                key={run.run_id}
                data-status={run.status}
                tabIndex={0}
                data-href={`/runs/${run.run_id}`}
                aria-label={`${run.status} run ${run.run_id} of ${run.function_id}`}
                onClick={() => navigate(`/runs/${run.run_id}`)}
              >
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>{run.function_id}</td>
                <td className="mono">
                  <Link to={`/runs/${run.run_id}`}>{run.run_id}</Link>
                </td>
                <td>{when(run.run_started_at ?? run.created_at)}</td>
                <td>{duration(run.run_started_at, run.ended_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor ? (
        <button type="button" className="secondary more" onClick={() => void more()}>
          Load more
        </button>
      ) : null}
    </section>
  );
}
