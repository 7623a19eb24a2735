/**
 * @module api
 * The dashboard's only way to data: the server's HTTP API (documented in the README).
 * In `stepwise start`, requests carry the session cookie from the login form.
 */

export interface Run {
  run_id: string;
  function_id: string;
  event_id: string | null;
  event_ids: string[];
  status: "Queued" | "Running" | "Completed" | "Failed" | "Cancelled" | "Skipped";
  output: unknown;
  error: { name: string; message: string; stack?: string } | null;
  created_at: string;
  run_started_at: string | null;
  ended_at: string | null;
  /** A deferred run (`defer()`): the run that deferred it. */
  parent_run_id?: string | null;
}

export interface Step {
  id: string;
  name: string;
  display_name: string;
  op: string;
  status: string;
  attempts: number;
  input: unknown;
  output: unknown;
  error: { name: string; message: string; stack?: string } | null;
  started_at: string | null;
  ended_at: string | null;
  wake_at: string | null;
  /** What the step's op carried: AI calls, user metadata, scores. */
  metadata?: Array<{ kind: string; scope?: string; op: "set" | "merge"; values: Record<string, unknown> }>;
}

export interface RunDetails extends Run {
  steps: Step[];
  /** The run this one reruns, and the step it started over from (a rerun from a step). */
  rerun_of: string | null;
  rerun_from_step: string | null;
  /** `kind: "app"`: the app is unreachable; the call is retried at `until` (`failures` in a row, `reason` the last). */
  waiting_on: { kind: string; key?: string; limit?: number; until?: number; since?: number; failures?: number; reason?: string } | null;
  /** Metadata by kind (run, and per step) and scores by name. */
  metadata?: {
    run: Record<string, Record<string, unknown>>;
    steps: Record<string, Record<string, Record<string, unknown>>>;
    scores: Record<string, number | boolean>;
  };
  /** The runs this run deferred (`defer()`), started once it ended. */
  deferred_runs?: Array<{ run_id: string; function_id: string; status: string }>;
}

export interface StoredEvent {
  internal_id: string;
  id: string;
  name: string;
  data: unknown;
  user: unknown;
  ts: number;
  received_at: string;
  duplicate: boolean;
  /** The event's `meta` as sent, and the sessions it is in. */
  meta?: Record<string, unknown> | null;
  sessions?: Record<string, string>;
}

export interface EventDetails extends StoredEvent {
  runs: Run[];
  outcome: string | null;
}

export interface FunctionInfo {
  id: string;
  slug: string;
  name: string;
  app_id: string;
  triggers: Array<{ event?: string; if?: string; cron?: string }>;
  config: Record<string, unknown>;
  paused: boolean;
  last_24h: Partial<Record<Run["status"], number>>;
}

export interface AppInfo {
  url: string;
  appName?: string;
  sdk?: string;
  framework?: string;
  functionIds: string[];
  lastSyncedAt?: number;
  error?: string;
}

export interface StatBucket {
  at: string;
  counts: Partial<Record<Run["status"], number>>;
  per_minute: Partial<Record<Run["status"], number>>;
  total: number;
  failed: number;
  failure_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
}

export interface FunctionStats {
  function_id: string;
  range: "1h" | "24h";
  bucket_ms: number;
  from: string;
  to: string;
  buckets: StatBucket[];
  totals: Omit<StatBucket, "at" | "per_minute">;
  durations_sampled: number;
}

/** What a stuck or slow run waits on (`kind` says which fields it has). */
export interface Wait {
  kind: string;
  key?: string;
  limit?: number;
  until?: number;
  since?: number;
  step?: string;
  event?: string;
  function?: string;
  signal?: string;
  attempt?: number;
  failures?: number;
  reason?: string;
}

export interface StuckRun {
  run_id: string;
  function_id: string;
  status: Run["status"];
  created_at: string;
  run_started_at: string | null;
  waiting_on: Wait;
}

export interface Stuck {
  now: string;
  queue: { due: number; leased: number; oldest_due_at: string | null; waiting: Record<string, number> };
  queued: StuckRun[];
  running: StuckRun[];
}

export interface Replay {
  id: string;
  function_id: string;
  statuses: string[];
  from: string | null;
  to: string | null;
  state: "running" | "completed" | "failed";
  total: number;
  done: number;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `stepwise start`: posts the dashboard secret to `/auth/login`; the server answers with an
 * HttpOnly session cookie that every later request (and the live stream) carries. The
 * secret is not kept in the page.
 */
export async function login(secret: string): Promise<void> {
  await request("/auth/login", { method: "POST", body: JSON.stringify({ token: secret }) });
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const res = await fetch(path, { ...init, credentials: "same-origin", headers: { ...headers, ...(init.headers as Record<string, string>) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, (body as { error?: string }).error ?? `${res.status} ${res.statusText}`);
  return body as T;
}

const post = (body?: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body ?? {}) });

export const api = {
  runs: (q: Record<string, string | undefined>) => {
    const params = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => !!e[1]));
    return request<{ data: Run[]; cursor: string | null }>(`/v1/runs?${params}`);
  },
  run: (id: string) => request<{ data: RunDetails }>(`/v1/runs/${encodeURIComponent(id)}`),
  cancel: (id: string) => request<{ data: RunDetails }>(`/v1/runs/${encodeURIComponent(id)}`, { method: "DELETE" }),
  rerun: (id: string, body: { from_step?: string; data?: unknown } = {}) =>
    request<{ data: { run_id: string } }>(`/v1/runs/${encodeURIComponent(id)}/rerun`, post(body)),
  stats: (id: string, range: "1h" | "24h") => request<{ data: FunctionStats }>(`/v1/functions/${encodeURIComponent(id)}/stats?range=${range}`),
  stuck: () => request<{ data: Stuck }>("/v1/stuck?limit=20"),
  replays: () => request<{ data: Replay[] }>("/v1/replays"),
  replay: (body: { function_id: string; statuses?: string[]; from?: string; to?: string }) => request<{ data: Replay }>("/v1/replays", post(body)),
  resumeReplay: (id: string) => request<{ data: Replay }>(`/v1/replays/${encodeURIComponent(id)}/resume`, post()),
  bulk: (action: "cancel" | "replay", body: { function_id: string; status?: string; from?: string }) =>
    request<{ data: { cancelled?: number; run_ids?: string[] } }>(`/v1/runs/${action}`, post(body)),
  events: (q: { name?: string; cursor?: string }) => {
    const params = new URLSearchParams({ limit: "50", ...(q.name ? { name: q.name } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
    return request<{ data: StoredEvent[]; cursor: string | null }>(`/v1/events?${params}`);
  },
  event: (id: string) => request<{ data: EventDetails }>(`/v1/events/${encodeURIComponent(id)}`),
  send: (events: unknown) => request<{ ids: string[] }>("/e/dashboard", post(events)),
  functions: () => request<{ data: FunctionInfo[] }>("/v1/functions"),
  invoke: (id: string, data: unknown) => request<{ data: { run_id: string } }>(`/v1/functions/${encodeURIComponent(id)}/invoke`, post({ data })),
  setPaused: (id: string, paused: boolean) => request(`/v1/functions/${encodeURIComponent(id)}/${paused ? "pause" : "resume"}`, post()),
  apps: () => request<{ data: AppInfo[] }>("/v1/apps"),
  sync: (url: string) => request<{ data: AppInfo }>("/v1/apps/sync", post({ url })),
};

/** Calls `onChange` (debounced) whenever the server reports activity. Returns a stop function. */
export function subscribe(onChange: () => void): () => void {
  // Same-origin EventSource sends the session cookie; no secret goes in the URL.
  const source = new EventSource("/v1/stream");
  let timer: number | undefined;
  source.addEventListener("activity", () => {
    clearTimeout(timer);
    timer = window.setTimeout(onChange, 100);
  });
  return () => {
    clearTimeout(timer);
    source.close();
  };
}
