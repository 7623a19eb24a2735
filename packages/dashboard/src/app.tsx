/**
 * @module app
 * The dashboard shell: navigation, hash routes (`#/section/id?query`), the keyboard
 * shortcuts and their help, the theme toggle, and the token prompt for `stepwise start`.
 */
import { useEffect, useState } from "react";
import { ApiError, api, login } from "./api.ts";
import { HelpDialog, ThemeToggle, useKeyboard } from "./components/keyboard.tsx";
import { AppsPage } from "./pages/apps.tsx";
import { EventDetailPage, EventsPage } from "./pages/events.tsx";
import { FunctionDetailPage } from "./pages/function-detail.tsx";
import { FunctionsPage } from "./pages/functions.tsx";
import { ReplaysPage } from "./pages/replays.tsx";
import { RunDetailPage } from "./pages/run-detail.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { StuckPage } from "./pages/stuck.tsx";

const sections: Array<[string, string]> = [
  ["runs", "Runs"],
  ["stuck", "Stuck or slow"],
  ["events", "Events"],
  ["functions", "Functions"],
  ["replays", "Replays"],
  ["apps", "Apps"],
];

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
  const [path = "", search = ""] = route.split("?");
  const query = new URLSearchParams(search);
  const [, section, rawId] = path.split("/");
  const id = rawId ? decodeURIComponent(rawId) : undefined;
  const { helpOpen, setHelpOpen } = useKeyboard(navigate, !!id);
  if (locked) return <TokenPrompt />;
  let page: React.ReactNode;
  if (section === "runs" && id) page = <RunDetailPage id={id} navigate={navigate} />;
  else if (section === "events" && id) page = <EventDetailPage id={id} />;
  else if (section === "events") page = <EventsPage navigate={navigate} />;
  else if (section === "functions" && id) page = <FunctionDetailPage id={id} />;
  else if (section === "functions") page = <FunctionsPage navigate={navigate} />;
  else if (section === "stuck") page = <StuckPage />;
  else if (section === "replays") page = <ReplaysPage initialFunction={query.get("function") ?? undefined} />;
  else if (section === "apps") page = <AppsPage />;
  else page = <RunsPage navigate={navigate} initialFunction={query.get("function") ?? undefined} />;
  return (
    <div className="shell">
      <nav aria-label="sections">
        <span className="brand">Stepwise</span>
        {sections.map(([s, label]) => (
          <a key={s} href={`#/${s}`} className={section === s ? "active" : ""} aria-current={section === s ? "page" : undefined}>
            {label}
          </a>
        ))}
        <ThemeToggle />
        <span className="keys-hint">
          press <kbd>?</kbd> for shortcuts
        </span>
      </nav>
      <main>{page}</main>
      <HelpDialog open={helpOpen} onClose={() => setHelpOpen(false)} />
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
