/**
 * @module rerun-from-step
 * Run detail: rerun from the selected step. The steps before it are copied (memoized)
 * into a new run, which links back to this one; the trigger event's data can be edited
 * first (sent only when changed).
 */
import { useState } from "react";
import { api, type Step } from "../api.ts";
import { JsonEditor } from "./json-editor.tsx";

export function RerunFromStep(props: { runId: string; step: Step; eventData: unknown; navigate: (to: string) => void }) {
  const [open, setOpen] = useState(false);
  const original = JSON.stringify(props.eventData ?? {}, null, 2);
  return (
    <div className="rerun-form" data-testid="rerun-from-step">
      <button type="button" className="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
        Rerun from “{props.step.display_name}”…
      </button>
      {open ? (
        <div className="panel">
          <p className="muted">
            The steps that completed before “{props.step.display_name}” are copied to a new run (their results memoized); it runs this step and the ones after
            it again. Edit the event data to rerun with a new input.
          </p>
          <JsonEditor
            key={props.step.id}
            initial={original}
            action={`Rerun from ${props.step.name}`}
            testId="rerun-data"
            check={(v) => (typeof v === "object" && v !== null && !Array.isArray(v) ? undefined : "the event data must be an object")}
            onSubmit={async (value) => {
              const changed = JSON.stringify(value) !== JSON.stringify(props.eventData ?? {});
              const next = await api.rerun(props.runId, { from_step: props.step.name, ...(changed ? { data: value } : {}) });
              props.navigate(`/runs/${next.data.run_id}`);
            }}
          />
        </div>
      ) : null}
    </div>
  );
}
