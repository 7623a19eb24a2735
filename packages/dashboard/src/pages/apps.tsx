/**
 * @module apps
 * Synced apps: URL, SDK, last sync and its error; Resync; sync a new URL.
 */
import { useCallback, useEffect, useState } from "react";
import { type AppInfo, api } from "../api.ts";
import { Empty, ErrorNote, when } from "../components/common.tsx";

export function AppsPage() {
  const [apps, setApps] = useState<AppInfo[]>([]);
  const [url, setUrl] = useState("http://localhost:3000/api/inngest");
  const [error, setError] = useState<unknown>();
  const load = useCallback(async () => {
    try {
      setApps((await api.apps()).data);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const sync = async (target: string) => {
    try {
      await api.sync(target);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
    void load();
  };
  return (
    <section>
      <div className="toolbar">
        <input aria-label="app url" value={url} onChange={(e) => setUrl(e.target.value)} />
        <button type="button" onClick={() => void sync(url)}>
          Sync app
        </button>
      </div>
      <ErrorNote error={error} />
      {apps.length === 0 ? (
        <Empty title="No apps synced">
          <p>Apps that serve functions over HTTP appear here once synced. Functions registered in-process are on the Functions page.</p>
        </Empty>
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th>app</th>
              <th>url</th>
              <th>sdk</th>
              <th>functions</th>
              <th>last sync</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {apps.map((app) => (
              <tr key={app.url}>
                <td>{app.appName ?? "—"}</td>
                <td className="mono">{app.url}</td>
                <td>{app.sdk ?? "—"}</td>
                <td>{app.functionIds.length}</td>
                <td>{app.error ? <span className="invalid">{app.error}</span> : app.lastSyncedAt ? when(new Date(app.lastSyncedAt).toISOString()) : "—"}</td>
                <td>
                  <button type="button" className="secondary" onClick={() => void sync(app.url)}>
                    Resync
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
