/**
 * @module rows
 * Row ↔ record mapping for the Postgres store. JSON values are TEXT columns; BIGINT
 * columns arrive as numbers (the store's connection parses int8, whose values here are
 * epoch milliseconds and ids far below 2^53).
 */
import type {
  ConcurrencyClaim,
  ConnectConnectionRecord,
  EventRecord,
  NewQueueItem,
  PauseRecord,
  QueueItem,
  RunMetadataRecord,
  RunRecord,
  StepRecord,
  StoredApp,
} from "@stepwise/engine";

export interface EventRow {
  internal_id: string;
  id: string;
  name: string;
  data: string;
  user_data: string;
  v: string | null;
  ts: number;
  received_at: number;
  duplicate: boolean;
  meta: string | null;
}
export interface RunRow {
  id: string;
  function_id: string;
  status: RunRecord["status"];
  event_id: string;
  event_ids: string;
  output: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  waiting_on: string | null;
  lease_expiries: number;
  pending_key: string | null;
  finish_after_ms: number | null;
  request_version?: number | null;
  parallel?: boolean | null;
  trace_context?: string | null;
  parent_run_id?: string | null;
  rerun_of?: string | null;
  rerun_from_step?: string | null;
}
export interface StepRow {
  run_id: string;
  id: string;
  name: string;
  display_name: string | null;
  op: string;
  status: StepRecord["status"];
  attempts: number;
  output: string | null;
  error: string | null;
  input: string | null;
  started_at: number | null;
  ended_at: number | null;
  wake_at: number | null;
  metadata: string | null;
}
export interface RunMetadataRow {
  run_id: string;
  target: string;
  updates: string;
  created_at: number;
}
export interface QueueRow {
  id: number;
  run_id: string;
  kind: QueueItem["kind"];
  step_id: string | null;
  attempt: number;
  lane: number;
  available_at: number;
  leased: boolean;
  token: number;
  ckey1: string | null;
  climit1: number | null;
  ckey2: string | null;
  climit2: number | null;
  payload: string | null;
}
export interface PauseRow {
  id: string;
  run_id: string;
  kind: PauseRecord["kind"];
  step_id: string | null;
  event_name: string;
  expression: string | null;
  index_path: string | null;
  index_value: string | null;
  exact: boolean;
  created_at: number;
  expires_at: number;
}

/** JSON text of a value, or null for undefined. */
export const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** Parameters of `insertEvent`, in column order. */
export const eventParams = (e: EventRecord) => [
  e.internalId,
  e.id,
  e.name,
  JSON.stringify(e.data),
  JSON.stringify(e.user),
  e.v ?? null,
  e.ts,
  e.receivedAt,
  e.duplicate === true,
  json(e.meta),
];

export function eventFromRow(row: EventRow): EventRecord {
  const event: EventRecord = {
    internalId: row.internal_id,
    id: row.id,
    name: row.name,
    data: JSON.parse(row.data),
    user: JSON.parse(row.user_data),
    ts: row.ts,
    receivedAt: row.received_at,
  };
  if (row.v !== null) event.v = row.v;
  if (row.duplicate) event.duplicate = true;
  if (row.meta !== null && row.meta !== undefined) event.meta = JSON.parse(row.meta);
  return event;
}

/** Parameters of `insertRun`, in column order. */
export const runParams = (r: RunRecord) => [
  r.id,
  r.functionId,
  r.status,
  r.eventIds[0] ?? "",
  JSON.stringify(r.eventIds),
  r.createdAt,
  r.waitingOn ? JSON.stringify(r.waitingOn) : null,
  r.pendingKey ?? null,
  r.finishAfterMs ?? null,
  r.status === "Skipped" ? JSON.stringify(r.error ?? null) : null,
  r.status === "Skipped" ? (r.endedAt ?? r.createdAt) : null,
  r.traceContext ?? null,
  r.parentRunId ?? null,
];

export function runFromRow(row: RunRow): RunRecord {
  const run: RunRecord = {
    id: row.id,
    functionId: row.function_id,
    status: row.status,
    eventIds: JSON.parse(row.event_ids),
    createdAt: row.created_at,
  };
  if (row.output !== null) run.output = JSON.parse(row.output);
  if (row.error !== null) run.error = JSON.parse(row.error);
  if (row.started_at !== null) run.startedAt = row.started_at;
  if (row.ended_at !== null) run.endedAt = row.ended_at;
  if (row.waiting_on) run.waitingOn = JSON.parse(row.waiting_on);
  if (row.lease_expiries) run.leaseExpiries = row.lease_expiries;
  if (row.pending_key !== null) run.pendingKey = row.pending_key;
  if (row.finish_after_ms !== null) run.finishAfterMs = row.finish_after_ms;
  if (row.request_version !== null && row.request_version !== undefined) run.requestVersion = row.request_version;
  if (row.parallel) run.parallel = true;
  if (row.trace_context) run.traceContext = row.trace_context;
  if (row.parent_run_id) run.parentRunId = row.parent_run_id;
  if (row.rerun_of) run.rerunOf = row.rerun_of;
  if (row.rerun_from_step) run.rerunFromStep = row.rerun_from_step;
  return run;
}

/** Parameters of `upsertStep`, in column order. */
export const stepParams = (s: StepRecord) => [
  s.runId,
  s.id,
  s.name,
  s.displayName ?? null,
  s.op,
  s.status,
  s.attempts,
  json(s.output),
  json(s.error),
  json(s.input),
  s.startedAt ?? null,
  s.endedAt ?? null,
  s.wakeAt ?? null,
  s.metadata?.length ? JSON.stringify(s.metadata) : null,
];

export function stepFromRow(row: StepRow): StepRecord {
  const step: StepRecord = { runId: row.run_id, id: row.id, name: row.name, op: row.op, status: row.status, attempts: row.attempts };
  if (row.display_name !== null) step.displayName = row.display_name;
  if (row.output !== null) step.output = JSON.parse(row.output);
  if (row.error !== null) step.error = JSON.parse(row.error);
  if (row.input !== null) step.input = JSON.parse(row.input);
  if (row.started_at !== null) step.startedAt = row.started_at;
  if (row.ended_at !== null) step.endedAt = row.ended_at;
  if (row.wake_at !== null) step.wakeAt = row.wake_at;
  if (row.metadata !== null && row.metadata !== undefined) step.metadata = JSON.parse(row.metadata);
  return step;
}

/** Parameters of `addRunMetadata`, in column order. */
export const runMetadataParams = (m: RunMetadataRecord) => [m.runId, JSON.stringify(m.target), JSON.stringify(m.updates), m.createdAt];

export const runMetadataFromRow = (row: RunMetadataRow): RunMetadataRecord => ({
  runId: row.run_id,
  target: JSON.parse(row.target),
  updates: JSON.parse(row.updates),
  createdAt: row.created_at,
});

/** Parameters of `enqueue`, in column order. */
export const itemParams = (i: NewQueueItem) => [
  i.runId,
  i.kind,
  i.stepId ?? null,
  i.attempt,
  i.lane ?? 0,
  i.availableAt,
  i.concurrency?.[0]?.key ?? null,
  i.concurrency?.[0]?.limit ?? null,
  i.concurrency?.[1]?.key ?? null,
  i.concurrency?.[1]?.limit ?? null,
  json(i.payload),
];

/** The concurrency keys a queue row holds a slot of while leased. */
export function claimsOfRow(row: QueueRow): ConcurrencyClaim[] {
  const claims: ConcurrencyClaim[] = [];
  if (row.ckey1 !== null) claims.push({ key: row.ckey1, limit: row.climit1 ?? 1 });
  if (row.ckey2 !== null) claims.push({ key: row.ckey2, limit: row.climit2 ?? 1 });
  return claims;
}

export function itemFromRow(row: QueueRow): QueueItem {
  const item: QueueItem = { id: String(row.id), runId: row.run_id, kind: row.kind, attempt: row.attempt, availableAt: row.available_at, token: row.token };
  if (row.lane === 1) item.lane = 1;
  if (row.step_id !== null) item.stepId = row.step_id;
  const claims = claimsOfRow(row);
  if (claims.length) item.concurrency = claims;
  if (row.payload !== null) item.payload = JSON.parse(row.payload);
  return item;
}

/** Parameters of `insertPause`, in column order. */
export const pauseParams = (p: PauseRecord) => [
  p.id,
  p.runId,
  p.kind,
  p.stepId ?? null,
  p.eventName,
  p.expression ?? null,
  p.indexPath ?? null,
  p.indexValue ?? null,
  p.exact === true,
  p.createdAt,
  p.expiresAt,
];

export function pauseFromRow(row: PauseRow): PauseRecord {
  const pause: PauseRecord = { id: row.id, runId: row.run_id, kind: row.kind, eventName: row.event_name, createdAt: row.created_at, expiresAt: row.expires_at };
  if (row.step_id !== null) pause.stepId = row.step_id;
  if (row.expression !== null) pause.expression = row.expression;
  if (row.index_path !== null) pause.indexPath = row.index_path;
  if (row.index_value !== null) pause.indexValue = row.index_value;
  if (row.exact) pause.exact = true;
  return pause;
}

export interface AppRow {
  url: string;
  app_name: string;
  sdk: string | null;
  framework: string | null;
  functions: string;
  synced_at: number;
}

export function appFromRow(row: AppRow): StoredApp {
  const app: StoredApp = { url: row.url, appName: row.app_name, functions: JSON.parse(row.functions) as unknown[], syncedAt: Number(row.synced_at) };
  if (row.sdk !== null) app.sdk = row.sdk;
  if (row.framework !== null) app.framework = row.framework;
  return app;
}

export interface ConnectConnectionRow {
  connection_id: string;
  app_name: string;
  node_id: string;
  node_url: string;
  state: string;
  last_seen_at: number;
}

export function connectConnectionFromRow(row: ConnectConnectionRow): ConnectConnectionRecord {
  return {
    connectionId: row.connection_id,
    appName: row.app_name,
    nodeId: row.node_id,
    nodeUrl: row.node_url,
    state: row.state === "draining" ? "draining" : "ready",
    lastSeenAt: Number(row.last_seen_at),
  };
}
