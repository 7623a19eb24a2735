/**
 * @module run-detail
 * One run: its status, a waterfall of its steps (attempts, durations, sleeps and waits),
 * the step inspector, its trigger events, and Rerun / Cancel.
 */
import { useState } from "react";
import { api, type EventDetails, type RunDetails, type Step } from "../api.ts";
import { AiStep } from "../components/ai-step.tsx";
import { duration, ErrorNote, Json, Link, StatusBadge, when } from "../components/common.tsx";
import { DeferLinks } from "../components/defer-links.tsx";
import { RerunFromStep } from "../components/rerun-from-step.tsx";
import { EventSessions, RunMetadataPanel, StepMetadata } from "../components/run-metadata.tsx";
import { useLive } from "../components/use-live.ts";

export function RunDetailPage({ id, navigate }: { id: string; navigate: (to: string) => void }) {
  const [selected, setSelected] = useState<string>();
  const { data, error, setData } = useLive<{ run: RunDetails; events: EventDetails[] }>(async () => {
    const run = (await api.run(id)).data;
    return { run, events: await Promise.all(run.event_ids.map(async (e) => (await api.event(e)).data)) };
  }, id);
  if (!data) return <ErrorNote error={error} />;
  const { run, events } = data;
  const setRun = (next: RunDetails) => setData({ run: next, events });
  const ended = ["Completed", "Failed", "Cancelled", "Skipped"].includes(run.status);
  const step = run.steps.find((s) => s.id === selected);
  return (
    <section className="detail">
      <div className="detail-head">
        <div>
          <h2>
            <StatusBadge status={run.status} /> {run.function_id}
          </h2>
          <div className="mono muted" data-testid="run-id">
            {run.run_id}
          </div>
        </div>
        <span className="spacer" />
        <button
          type="button"
          onClick={async () => {
            const next = await api.rerun(run.run_id);
            navigate(`/runs/${next.data.run_id}`);
          }}
        >
          Rerun
        </button>
        <button type="button" className="danger" disabled={ended} onClick={async () => setRun((await api.cancel(run.run_id)).data)}>
          Cancel
        </button>
      </div>
      <ErrorNote error={error} />
      <dl className="facts">
        <dt>started</dt>
        <dd>{when(run.run_started_at)}</dd>
        <dt>duration</dt>
        <dd>{duration(run.run_started_at ?? run.created_at, run.ended_at)}</dd>
        {run.rerun_of ? (
          <>
            <dt>rerun of</dt>
            <dd data-testid="rerun-of">
              <Link to={`/runs/${run.rerun_of}`} className="mono">
                {run.rerun_of}
              </Link>
              {run.rerun_from_step ? ` from step “${run.rerun_from_step}”` : ""}
            </dd>
          </>
        ) : null}
        {run.waiting_on ? (
          <>
            <dt>waiting on</dt>
            <dd data-testid="waiting-on">
              {run.waiting_on.kind}
              {run.waiting_on.key ? ` ${run.waiting_on.key}` : ""}
              {run.waiting_on.limit ? ` (limit ${run.waiting_on.limit})` : ""}
              {run.waiting_on.until ? ` until ${when(new Date(run.waiting_on.until).toISOString())}` : ""}
              {run.waiting_on.kind === "app" && run.waiting_on.reason ? ` (unreachable ${run.waiting_on.failures ?? 1}×: ${run.waiting_on.reason})` : ""}
            </dd>
          </>
        ) : null}
        <DeferLinks run={run} />
      </dl>
      <h3>Timeline</h3>
      <Waterfall run={run} selected={selected} onSelect={setSelected} />
      {step ? (
        <>
          <StepPanel step={step} />
          <RerunFromStep runId={run.run_id} step={step} eventData={events[0]?.data} navigate={navigate} />
        </>
      ) : (
        <p className="muted">Click a step to see its output or error, or to rerun from it.</p>
      )}
      {run.error ? (
        <>
          <h3>Error</h3>
          <pre className="json error">{`${run.error.name}: ${run.error.message}${run.error.stack ? `\n${run.error.stack}` : ""}`}</pre>
        </>
      ) : null}
      {run.output !== null && run.output !== undefined ? (
        <>
          <h3>Output</h3>
          <Json value={run.output} />
        </>
      ) : null}
      <RunMetadataPanel metadata={run.metadata} />
      <h3>Trigger {events.length > 1 ? `events (${events.length})` : "event"}</h3>
      {events.map((e) => (
        <div key={e.internal_id}>
          <Link to={`/events/${e.internal_id}`} className="mono">
            {e.name} · {e.internal_id}
          </Link>
          <EventSessions sessions={e.sessions} />
          <Json value={e.data} />
        </div>
      ))}
    </section>
  );
}

function Waterfall({ run, selected, onSelect }: { run: RunDetails; selected?: string; onSelect: (id: string) => void }) {
  const start = Date.parse(run.run_started_at ?? run.created_at);
  const now = Date.now();
  const ends = run.steps.map((s) => (s.ended_at ? Date.parse(s.ended_at) : s.wake_at ? Math.min(Date.parse(s.wake_at), now) : now));
  const end = Math.max(start + 1, run.ended_at ? Date.parse(run.ended_at) : now, ...ends);
  const span = end - start;
  if (run.steps.length === 0) return <p className="muted">No steps yet.</p>;
  return (
    <div className="waterfall" data-testid="timeline">
      {run.steps.map((s, i) => {
        const from = s.started_at ? Date.parse(s.started_at) : start;
        const to = ends[i] as number;
        const left = ((from - start) / span) * 100;
        const width = Math.max(0.8, ((to - from) / span) * 100);
        return (
          <button type="button" key={s.id} className={`bar-row ${selected === s.id ? "selected" : ""}`} onClick={() => onSelect(s.id)} data-step={s.name}>
            <span className="bar-label">
              {s.display_name}
              {s.attempts > 1 ? <span className="attempts"> ×{s.attempts}</span> : null}
            </span>
            <span className="bar-track">
              <span className={`bar bar-${s.status.toLowerCase()} op-${s.op.toLowerCase()}`} style={{ left: `${left}%`, width: `${width}%` }} />
            </span>
            <span className="bar-time">
              {s.op === "Sleep" || s.op === "WaitForEvent" ? `${s.op === "Sleep" ? "sleep" : "wait"} ` : ""}
              {duration(s.started_at, s.ended_at)}
            </span>
          </button>
        );
      })}
    </div>
  );
}

function StepPanel({ step }: { step: Step }) {
  return (
    <div className="panel" data-testid="step-panel">
      <h4>
        {step.display_name} <StatusBadge status={step.status} />
      </h4>
      <dl className="facts">
        <dt>op</dt>
        <dd>{step.op}</dd>
        <dt>attempts</dt>
        <dd>{step.attempts}</dd>
        <dt>started</dt>
        <dd>{when(step.started_at)}</dd>
        <dt>ended</dt>
        <dd>{when(step.ended_at)}</dd>
        {step.wake_at ? (
          <>
            <dt>wakes</dt>
            <dd>{when(step.wake_at)}</dd>
          </>
        ) : null}
      </dl>
      <AiStep step={step} />
      {step.input !== null && step.input !== undefined ? (
        <>
          <h4>Input</h4>
          <Json value={step.input} />
        </>
      ) : null}
      <StepMetadata metadata={step.metadata} />
      <h4>{step.error ? "Error" : "Output"}</h4>
      {step.error ? (
        <pre className="json error">{`${step.error.name}: ${step.error.message}${step.error.stack ? `\n${step.error.stack}` : ""}`}</pre>
      ) : (
        <Json value={step.output} />
      )}
    </div>
  );
}
