/**
 * @module app
 * The dashboard shell: navigation, hash routes, and the token prompt for `stepwise start`.
 */
import { useEffect, useState } from "react";
import { ApiError, api, login } from "./api.ts";
import { AppsPage } from "./pages/apps.tsx";
import { EventDetailPage, EventsPage } from "./pages/events.tsx";
import { FunctionsPage } from "./pages/functions.tsx";
import { RunDetailPage } from "./pages/run-detail.tsx";
import { RunsPage } from "./pages/runs.tsx";

function useRoute(): [string, (to: string) => void] {
  const [route, setRoute] = useState(location.hash.slice(1) || "/runs");
  useEffect(() => {
    const onChange = () => setRoute(location.hash.slice(1) || "/runs");
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return [route, (to) => (location.hash = to)];
}

export function App() {
  const [route, navigate] = useRoute();
  const [locked, setLocked] = useState(false);
  useEffect(() => {
    api.functions().catch((e) => setLocked(e instanceof ApiError && e.status === 401));
  }, []);
  if (locked) return <TokenPrompt />;
  const [, section, id] = route.split("/");
  let page: React.ReactNode;
  if (section === "runs" && id) page = <RunDetailPage id={id} navigate={navigate} />;
  else if (section === "events" && id) page = <EventDetailPage id={id} />;
  else if (section === "events") page = <EventsPage navigate={navigate} />;
  else if (section === "functions") page = <FunctionsPage navigate={navigate} />;
  else if (section === "apps") page = <AppsPage />;
  else page = <RunsPage navigate={navigate} />;
  return (
    <div className="shell">
      <nav>
        <span className="brand">Stepwise</span>
        {["runs", "events", "functions", "apps"].map((s) => (
          <a key={s} href={`#/${s}`} className={section === s ? "active" : ""}>
            {s[0]?.toUpperCase()}
            {s.slice(1)}
          </a>
        ))}
      </nav>
      <main>{page}</main>
    </div>
  );
}

function TokenPrompt() {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="login"
      onSubmit={(e) => {
        e.preventDefault();
        login(value)
          .then(() => location.reload())
          .catch((err) => setError(err instanceof Error ? err.message : String(err)));
      }}
    >
      <h2>Stepwise</h2>
      <p>This server needs the dashboard token.</p>
      <input aria-label="token" type="password" autoComplete="current-password" value={value} onChange={(e) => setValue(e.target.value)} />
      <button type="submit">Open</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}
