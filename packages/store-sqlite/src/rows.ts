/**
 * @module rows
 * Row ↔ record mapping for the SQLite store. JSON columns are TEXT.
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
  user: string;
  v: string | null;
  ts: number;
  received_at: number;
  duplicate: number;
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
  request_version: number | null;
  parallel?: number | null;
  trace_context?: string | null;
  parent_run_id?: string | null;
  rerun_of: string | null;
  rerun_from_step: string | null;
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
  seq: number;
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
  leased: number;
  token: number;
  ckey1: string | null;
  climit1: number | null;
  ckey2: string | null;
  climit2: number | null;
  payload: string | null;
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

export const eventToRow = (e: EventRecord) => ({
  internalId: e.internalId,
  id: e.id,
  name: e.name,
  data: JSON.stringify(e.data),
  user: JSON.stringify(e.user),
  v: e.v ?? null,
  ts: e.ts,
  receivedAt: e.receivedAt,
  duplicate: e.duplicate ? 1 : 0,
  meta: json(e.meta),
});

export function eventFromRow(row: EventRow): EventRecord {
  const event: EventRecord = {
    internalId: row.internal_id,
    id: row.id,
    name: row.name,
    data: JSON.parse(row.data),
    user: JSON.parse(row.user),
    ts: row.ts,
    receivedAt: row.received_at,
  };
  if (row.v !== null) event.v = row.v;
  if (row.duplicate) event.duplicate = true;
  if (row.meta !== null && row.meta !== undefined) event.meta = JSON.parse(row.meta);
  return event;
}

export const runToRow = (r: RunRecord) => ({
  id: r.id,
  functionId: r.functionId,
  status: r.status,
  eventId: r.eventIds[0] ?? "",
  eventIds: JSON.stringify(r.eventIds),
  createdAt: r.createdAt,
  waitingOn: r.waitingOn ? JSON.stringify(r.waitingOn) : null,
  pendingKey: r.pendingKey ?? null,
  finishAfterMs: r.finishAfterMs ?? null,
  traceContext: r.traceContext ?? null,
  parentRunId: r.parentRunId ?? null,
});

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

export const stepToRow = (s: StepRecord) => ({
  runId: s.runId,
  id: s.id,
  name: s.name,
  displayName: s.displayName ?? null,
  op: s.op,
  status: s.status,
  attempts: s.attempts,
  output: json(s.output),
  error: json(s.error),
  input: json(s.input),
  startedAt: s.startedAt ?? null,
  endedAt: s.endedAt ?? null,
  wakeAt: s.wakeAt ?? null,
  metadata: s.metadata?.length ? JSON.stringify(s.metadata) : null,
});

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

export const runMetadataToRow = (m: RunMetadataRecord) => ({
  runId: m.runId,
  target: JSON.stringify(m.target),
  updates: JSON.stringify(m.updates),
  createdAt: m.createdAt,
});

export const runMetadataFromRow = (row: RunMetadataRow): RunMetadataRecord => ({
  runId: row.run_id,
  target: JSON.parse(row.target),
  updates: JSON.parse(row.updates),
  createdAt: row.created_at,
});

export const itemToRow = (i: NewQueueItem) => ({
  runId: i.runId,
  kind: i.kind,
  stepId: i.stepId ?? null,
  attempt: i.attempt,
  lane: i.lane ?? 0,
  availableAt: i.availableAt,
  ckey1: i.concurrency?.[0]?.key ?? null,
  climit1: i.concurrency?.[0]?.limit ?? null,
  ckey2: i.concurrency?.[1]?.key ?? null,
  climit2: i.concurrency?.[1]?.limit ?? null,
  payload: i.payload === undefined ? null : JSON.stringify(i.payload),
});

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

export interface PauseRow {
  id: string;
  run_id: string;
  kind: PauseRecord["kind"];
  step_id: string | null;
  event_name: string;
  expression: string | null;
  index_path: string | null;
  index_value: string | null;
  exact: number;
  created_at: number;
  expires_at: number;
}

export const pauseToRow = (p: PauseRecord) => ({
  id: p.id,
  runId: p.runId,
  kind: p.kind,
  stepId: p.stepId ?? null,
  eventName: p.eventName,
  expression: p.expression ?? null,
  indexPath: p.indexPath ?? null,
  indexValue: p.indexValue ?? null,
  exact: p.exact ? 1 : 0,
  createdAt: p.createdAt,
  expiresAt: p.expiresAt,
});

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
  const app: StoredApp = { url: row.url, appName: row.app_name, functions: JSON.parse(row.functions) as unknown[], syncedAt: row.synced_at };
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
