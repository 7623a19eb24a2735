/**
 * @module replays
 * Bulk replay: choose a function, statuses and a time range; the server replays the
 * matching runs in background batches. Every job shows its progress (n of m) live, and a
 * failed one can be resumed where it stopped.
 */
import { useEffect, useState } from "react";
import { api, type FunctionInfo, type Replay } from "../api.ts";
import { ErrorNote, when } from "../components/common.tsx";

const replayable = ["Failed", "Cancelled", "Completed", "Skipped"];

function Progress({ job }: { job: Replay }) {
  const ratio = job.total ? job.done / job.total : 1;
  return (
    <div className="row" style={{ marginTop: 0 }}>
      <div
        className="progress"
        role="progressbar"
        aria-label={`replay ${job.id} progress`}
        aria-valuemin={0}
        aria-valuemax={job.total}
        aria-valuenow={job.done}
      >
        <span style={{ width: `${ratio * 100}%` }} />
      </div>
      <span data-testid="replay-progress">
        {job.done} of {job.total}
      </span>
    </div>
  );
}

export function ReplaysPage({ initialFunction }: { initialFunction?: string }) {
  const [functions, setFunctions] = useState<FunctionInfo[]>([]);
  const [fn, setFn] = useState(initialFunction ?? "");
  const [statuses, setStatuses] = useState<string[]>(["Failed"]);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [jobs, setJobs] = useState<Replay[]>([]);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    api.functions().then((r) => setFunctions(r.data), setError);
  }, []);
  const running = jobs.some((j) => j.state === "running");
  useEffect(() => {
    let stop = false;
    const load = () =>
      api.replays().then(
        (r) => !stop && setJobs(r.data),
        (e) => !stop && setError(e),
      );
    void load();
    // progress is polled while a job runs (each batch is a store write, not an activity event)
    const timer = running ? window.setInterval(load, 500) : undefined;
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [running]);

  const start = async () => {
    setError(undefined);
    try {
      const job = await api.replay({
        function_id: fn,
        statuses,
        ...(from ? { from: new Date(from).toISOString() } : {}),
        ...(to ? { to: new Date(to).toISOString() } : {}),
      });
      setJobs((prev) => [job.data, ...prev.filter((j) => j.id !== job.data.id)]);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section>
      <h2>Bulk replay</h2>
      <form
        className="toolbar"
        aria-label="replay runs"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <select aria-label="replay function" value={fn} onChange={(e) => setFn(e.target.value)} required>
          <option value="">choose a function</option>
          {functions.map((f) => (
            <option key={f.id} value={f.id}>
              {f.id}
            </option>
          ))}
        </select>
        <fieldset className="seg" aria-label="statuses to replay" style={{ padding: 0, margin: 0 }}>
          {replayable.map((s) => (
            <button
              key={s}
              type="button"
              aria-pressed={statuses.includes(s)}
              onClick={() => setStatuses((prev) => (prev.includes(s) ? prev.filter((x) => x !== s) : [...prev, s]))}
            >
              {s}
            </button>
          ))}
        </fieldset>
        <label>
          from <input type="datetime-local" aria-label="replay from" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          to <input type="datetime-local" aria-label="replay to" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="submit" disabled={!fn || statuses.length === 0}>
          Start replay
        </button>
      </form>
      <ErrorNote error={error} />
      {jobs.length === 0 ? (
        <p className="muted">No replays yet. A replay reruns every matching run, newest first, in batches; it resumes by itself after a restart.</p>
      ) : (
        <table className="list" data-testid="replays">
          <thead>
            <tr>
              <th>state</th>
              <th>function</th>
              <th>runs</th>
              <th>range</th>
              <th>progress</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-state={job.state} data-replay={job.id} style={{ cursor: "default" }}>
                <td>
                  <span className={`badge badge-${job.state === "completed" ? "completed" : job.state === "failed" ? "failed" : "running"}`}>{job.state}</span>
                </td>
                <td>{job.function_id}</td>
                <td>{job.statuses.join(", ")}</td>
                <td className="muted">
                  {job.from ? when(job.from) : "any time"} → {when(job.to)}
                </td>
                <td>
                  <Progress job={job} />
                  {job.error ? <div className="invalid">{job.error}</div> : null}
                </td>
                <td>
                  {job.state === "failed" ? (
                    <button
                      type="button"
                      className="secondary"
                      onClick={async () => {
                        try {
                          const resumed = (await api.resumeReplay(job.id)).data;
                          setJobs((prev) => prev.map((j) => (j.id === job.id ? resumed : j)));
                        } catch (e) {
                          setError(e);
                        }
                      }}
                    >
                      Resume
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
