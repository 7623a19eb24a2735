/**
 * @module events
 * The event stream, one event's payload and the runs it started (or why none), and the
 * Send event form.
 */
import { useState } from "react";
import { api, type EventDetails, type StoredEvent } from "../api.ts";
import { Empty, ErrorNote, Json, Link, StatusBadge, when } from "../components/common.tsx";
import { checkEvents, JsonEditor } from "../components/json-editor.tsx";
import { useLive } from "../components/use-live.ts";

export function EventsPage({ navigate }: { navigate: (to: string) => void }) {
  const [name, setName] = useState("");
  const [sending, setSending] = useState(false);
  const { data, error } = useLive<StoredEvent[]>(async () => (await api.events({ name: name || undefined })).data, name);
  const events = data ?? [];
  return (
    <section>
      <div className="toolbar">
        <input aria-label="event name" data-search placeholder="filter by event name" value={name} onChange={(e) => setName(e.target.value)} />
        <span className="spacer" />
        <button type="button" onClick={() => setSending(!sending)}>
          Send event
        </button>
      </div>
      {sending ? <SendEvent onSent={(id) => navigate(`/events/${id}`)} /> : null}
      <ErrorNote error={error} />
      {events.length === 0 ? (
        <Empty title="No events yet">
          <p>
            Use <b>Send event</b> above, or <code>client.send(&#123; name, data &#125;)</code> from your app.
          </p>
        </Empty>
      ) : (
        <table className="list" data-testid="events" data-nav>
          <thead>
            <tr>
              <th>name</th>
              <th>id</th>
              <th>received</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr
                key={e.internal_id}
                tabIndex={0}
                data-href={`/events/${e.internal_id}`}
                aria-label={`event ${e.name} ${e.internal_id}`}
                onClick={() => navigate(`/events/${e.internal_id}`)}
              >
                <td>{e.name}</td>
                <td className="mono">
                  <Link to={`/events/${e.internal_id}`}>{e.internal_id}</Link>
                </td>
                <td>{when(e.received_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function SendEvent({ onSent }: { onSent: (id: string) => void }) {
  return (
    <div className="panel">
      <h4>Send event</h4>
      <JsonEditor
        testId="event-json"
        initial={JSON.stringify({ name: "app/hello", data: { name: "Ada" } }, null, 2)}
        action="Send"
        check={checkEvents}
        onSubmit={async (value) => {
          const { ids } = await api.send(value);
          onSent(ids[0] as string);
        }}
      />
    </div>
  );
}

export function EventDetailPage({ id }: { id: string }) {
  const { data: event, error } = useLive<EventDetails>(async () => (await api.event(id)).data, id);
  if (!event) return <ErrorNote error={error} />;
  return (
    <section className="detail">
      <h2>{event.name}</h2>
      <div className="mono muted">
        {event.internal_id}
        {event.id !== event.internal_id ? ` · id ${event.id}` : ""} · received {when(event.received_at)}
      </div>
      <h3>Runs</h3>
      {event.runs.length ? (
        <ul className="plain" data-testid="event-runs">
          {event.runs.map((r) => (
            <li key={r.run_id}>
              <StatusBadge status={r.status} /> {r.function_id} <Link to={`/runs/${r.run_id}`}>{r.run_id}</Link>
              {r.status === "Skipped" && r.error ? <span className="muted"> — {r.error.message}</span> : null}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted" data-testid="event-outcome">
          No runs: {event.outcome}
        </p>
      )}
      <h3>Payload</h3>
      <Json value={{ name: event.name, data: event.data, user: event.user, id: event.id, ts: event.ts, ...(event.meta ? { meta: event.meta } : {}) }} />
    </section>
  );
}
