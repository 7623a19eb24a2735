/**
 * @module run-metadata
 * A run's scores and metadata (written by its steps or over `POST /v1/runs/:id/metadata`),
 * a step's metadata as its op carried it, and an event's sessions.
 */
import type { RunDetails, Step } from "../api.ts";
import { Json } from "./common.tsx";

/** Scores as a list of name = value, then the run's metadata by kind. Nothing when none was written. */
export function RunMetadataPanel({ metadata }: { metadata: RunDetails["metadata"] | undefined }) {
  if (!metadata) return null;
  const scores = Object.entries(metadata.scores);
  const { "inngest.score": _scores, ...kinds } = metadata.run;
  const steps = Object.entries(metadata.steps);
  if (scores.length === 0 && Object.keys(kinds).length === 0 && steps.length === 0) return null;
  return (
    <div data-testid="run-metadata">
      {scores.length ? (
        <>
          <h3>Scores</h3>
          <dl className="facts" data-testid="run-scores">
            {scores.map(([name, value]) => (
              <span key={name} style={{ display: "contents" }}>
                <dt>{name}</dt>
                <dd className="mono">{String(value)}</dd>
              </span>
            ))}
          </dl>
        </>
      ) : null}
      {Object.keys(kinds).length ? (
        <>
          <h3>Metadata</h3>
          <Json value={kinds} />
        </>
      ) : null}
      {steps.length ? (
        <>
          <h3>Step metadata</h3>
          <Json value={metadata.steps} />
        </>
      ) : null}
    </div>
  );
}

/** The metadata a step's op carried (AI calls, user metadata, scores). */
export function StepMetadata({ metadata }: { metadata: Step["metadata"] | undefined }) {
  if (!metadata?.length) return null;
  return (
    <div data-testid="step-metadata">
      <h4>Metadata</h4>
      {metadata.map((m) => (
        <div key={`${m.kind}:${m.scope ?? ""}`}>
          <div className="mono muted">
            {m.kind} · {m.op}
            {m.scope ? ` · ${m.scope}` : ""}
          </div>
          <Json value={m.values} />
        </div>
      ))}
    </div>
  );
}

/** An event's sessions (key = id), when it is in any. */
export function EventSessions({ sessions }: { sessions: Record<string, string> | undefined }) {
  const entries = Object.entries(sessions ?? {});
  if (!entries.length) return null;
  return (
    <div className="mono muted" data-testid="event-sessions">
      sessions: {entries.map(([key, id]) => `${key}=${id}`).join(", ")}
    </div>
  );
}
