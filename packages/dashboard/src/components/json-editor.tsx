/**
 * @module json-editor
 * A JSON text area that validates as you type (and with an optional extra check) and only
 * enables its action when the document is valid.
 */
import { useState } from "react";

export function JsonEditor(props: {
  initial: string;
  action: string;
  check?: (value: unknown) => string | undefined;
  onSubmit: (value: unknown) => Promise<void>;
  testId?: string;
}) {
  const [text, setText] = useState(props.initial);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string>();
  let problem: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
    problem = props.check?.(value);
  } catch (error) {
    problem = `invalid JSON: ${(error as Error).message}`;
  }
  return (
    <div className="json-editor">
      <textarea data-testid={props.testId} value={text} spellCheck={false} rows={8} onChange={(e) => setText(e.target.value)} />
      <div className="row">
        <span className={problem ? "invalid" : "valid"}>{problem ?? "valid JSON"}</span>
        <button
          type="button"
          disabled={!!problem || busy}
          onClick={async () => {
            setBusy(true);
            setFailure(undefined);
            try {
              await props.onSubmit(value);
            } catch (error) {
              setFailure((error as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.action}
        </button>
      </div>
      {failure ? <div className="error-note">{failure}</div> : null}
    </div>
  );
}

/** The checks the event API applies, before sending. */
export function checkEvents(value: unknown): string | undefined {
  const list = Array.isArray(value) ? value : [value];
  for (const [i, e] of list.entries()) {
    const where = Array.isArray(value) ? `events[${i}]` : "event";
    if (typeof e !== "object" || e === null || Array.isArray(e)) return `${where}: expected an object`;
    const event = e as Record<string, unknown>;
    if (typeof event.name !== "string" || event.name === "") return `${where}: "name" is required`;
    if (event.data !== undefined && (typeof event.data !== "object" || event.data === null || Array.isArray(event.data)))
      return `${where}: "data" must be an object`;
  }
  return undefined;
}
