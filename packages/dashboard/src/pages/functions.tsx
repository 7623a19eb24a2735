/**
 * @module functions
 * Functions with their triggers, flow-control config and last-24 h counts; Invoke with a
 * payload; Pause / Resume.
 */
import { useState } from "react";
import { api, type FunctionInfo } from "../api.ts";
import { Empty, ErrorNote, Json } from "../components/common.tsx";
import { JsonEditor } from "../components/json-editor.tsx";
import { useLive } from "../components/use-live.ts";

const flowKeys = ["concurrency", "throttle", "rateLimit", "debounce", "priority", "batchEvents", "idempotency", "singleton", "cancelOn", "timeouts"];

export function FunctionsPage({ navigate }: { navigate: (to: string) => void }) {
  const [invoking, setInvoking] = useState<string>();
  const { data, error, reload: load } = useLive<FunctionInfo[]>(async () => (await api.functions()).data, "functions");
  const functions = data ?? [];
  if (functions.length === 0) {
    return (
      <Empty title="No functions registered">
        <p>
          Sync an app (<code>npx stepwise dev -u http://localhost:3000/api/inngest</code>) or register functions in-process with <code>engine.register</code>.
        </p>
        <ErrorNote error={error} />
      </Empty>
    );
  }
  return (
    <section className="cards">
      <ErrorNote error={error} />
      {functions.map((fn) => {
        const flow = Object.fromEntries(flowKeys.filter((k) => fn.config[k] !== undefined).map((k) => [k, fn.config[k]]));
        const counts = fn.last_24h;
        return (
          <article key={fn.id} className="card" data-function={fn.id}>
            <header>
              <h3>{fn.name}</h3>
              <span className="mono muted">{fn.id}</span>
              {fn.paused ? <span className="badge badge-cancelled">Paused</span> : null}
            </header>
            <div className="muted">
              {fn.triggers.length
                ? fn.triggers.map((t) => (t.cron ? `cron ${t.cron}` : `${t.event}${t.if ? ` if ${t.if}` : ""}`)).join(" · ")
                : "no triggers (invoke only)"}
            </div>
            <div className="counts">
              last 24 h: <b>{counts.Completed ?? 0}</b> completed · <b>{counts.Failed ?? 0}</b> failed · <b>{(counts.Running ?? 0) + (counts.Queued ?? 0)}</b>{" "}
              running or queued
            </div>
            {Object.keys(flow).length ? <Json value={flow} /> : null}
            <div className="row">
              <a href={`#/functions/${encodeURIComponent(fn.id)}`} aria-label={`charts of ${fn.id}`}>
                Charts
              </a>
              <span className="spacer" />
              <button type="button" onClick={() => setInvoking(invoking === fn.id ? undefined : fn.id)}>
                Invoke
              </button>
              <button
                type="button"
                className="secondary"
                onClick={async () => {
                  await api.setPaused(fn.id, !fn.paused);
                  void load();
                }}
              >
                {fn.paused ? "Resume" : "Pause"}
              </button>
            </div>
            {invoking === fn.id ? (
              <JsonEditor
                initial={"{}"}
                action="Invoke"
                check={(v) => (typeof v === "object" && v !== null && !Array.isArray(v) ? undefined : "the payload must be an object")}
                onSubmit={async (data) => navigate(`/runs/${(await api.invoke(fn.id, data)).data.run_id}`)}
              />
            ) : null}
          </article>
        );
      })}
    </section>
  );
}
