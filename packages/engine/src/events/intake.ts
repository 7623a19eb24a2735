/**
 * @module intake
 * Turns validated event payloads into stored events and the runs they start: each run
 * with its first queue item, its cancelOn pauses and its start timeout. Pure: the caller
 * writes the result in one transaction.
 */
import { type EventMeta, type FunctionConfig, limits, parseDuration, type StoredEvent } from "@stepwise/protocol";
import { preparePauseExpression } from "../expressions/pause-expression.ts";
import { concurrencyClaims } from "../flow-control/concurrency.ts";
import { newId } from "../ids.ts";
import {
  type EventRecord,
  type IngestParams,
  type NewQueueItem,
  PauseKind,
  type PauseRecord,
  QueueItemKind,
  type RunRecord,
  RunStatus,
  type TxView,
} from "../ports/store.ts";
import { deferParentOf } from "../runs/defers.ts";
import type { FunctionRegistry } from "./function-registry.ts";

export interface EventInput {
  name: string;
  data: Record<string, unknown>;
  user?: Record<string, unknown>;
  id?: string;
  ts?: number;
  v?: string;
  meta?: EventMeta;
}

/** How long a sender's event id suppresses duplicates. */
export const dedupeWindowMs = 24 * 60 * 60 * 1000;

export function toEventRecord(input: EventInput, now: number, internalId = newId()): EventRecord {
  const record: EventRecord = {
    internalId,
    id: input.id ?? internalId,
    name: input.name,
    data: input.data,
    user: input.user ?? {},
    ts: input.ts ?? now,
    receivedAt: now,
  };
  if (input.v !== undefined) record.v = input.v;
  if (input.meta !== undefined) record.meta = input.meta;
  return record;
}

export function toStoredEvent(record: EventRecord): StoredEvent {
  const event: StoredEvent = { id: record.id, name: record.name, data: record.data, user: record.user, ts: record.ts };
  if (record.v !== undefined) event.v = record.v;
  if (record.meta !== undefined) event.meta = record.meta;
  return event;
}

export interface PlannedRun {
  run: RunRecord;
  items: NewQueueItem[];
  pauses: PauseRecord[];
}

/** A new run of `config` for `events`, due at `availableAt`, with its cancelOn pauses and start timeout. */
export function planRun(config: FunctionConfig, events: readonly EventRecord[], now: number, availableAt = now, runId = newId()): PlannedRun {
  const run: RunRecord = { id: runId, functionId: config.id, status: RunStatus.Queued, eventIds: events.map((e) => e.internalId), createdAt: now };
  // the claim that starts the run enqueues its finish timeout, in the same transaction
  if (config.timeouts?.finish !== undefined) run.finishAfterMs = parseDuration(config.timeouts.finish);
  const trigger = events[0] ? toStoredEvent(events[0]) : undefined;
  const parentRunId = deferParentOf(trigger);
  if (parentRunId) run.parentRunId = parentRunId;
  const first: NewQueueItem = { runId: run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt, lane: 1 };
  const claims = concurrencyClaims(config, trigger);
  if (claims.length) first.concurrency = claims;
  const items: NewQueueItem[] = [first];
  if (config.timeouts?.start !== undefined) {
    // Counted from when the run is due (a future `ts` is not time spent waiting to start).
    items.push({ runId: run.id, kind: QueueItemKind.StartTimeout, attempt: 0, availableAt: availableAt + parseDuration(config.timeouts.start) });
  }
  const pauses = (config.cancelOn ?? []).map((cancel, i): PauseRecord => {
    const source = cancel.match ? `event.${cancel.match} == async.${cancel.match}` : cancel.if;
    return {
      id: `${run.id}:cancel:${i}`,
      runId: run.id,
      kind: PauseKind.Cancel,
      eventName: cancel.event,
      ...preparePauseExpression(source, trigger, `function "${config.slug}": cancelOn[${i}]`),
      createdAt: now,
      expiresAt: now + (cancel.timeout === undefined ? limits.sleepMs : parseDuration(cancel.timeout)),
    };
  });
  return { run, items, pauses };
}

export type IngestPlan = IngestParams & { ids: string[]; runs: RunRecord[]; items: NewQueueItem[]; pauses: PauseRecord[]; events: EventRecord[] };

export function emptyPlan(): IngestPlan {
  return { events: [], runs: [], items: [], pauses: [], ids: [] };
}

/** A copy a store script may change freely (scripts can run more than once when a transaction is retried). */
export function clonePlan(plan: IngestPlan): IngestPlan {
  return {
    ...plan,
    runs: plan.runs.map((run) => ({ ...run })),
    items: plan.items.map((item) => ({ ...item })),
    pauses: [...plan.pauses],
    ...(plan.runUpdates ? { runUpdates: [...plan.runUpdates] } : {}),
    ...(plan.flowState ? { flowState: [...plan.flowState] } : {}),
  };
}

/**
 * Follow-ups of storing these events, written in the same transaction: a `route` item for
 * each event (not a duplicate) that some pause may be waiting on. An event no pause waits on
 * needs none: a wait created later looks back over it (its post-check).
 */
export function addRouteItems(plan: IngestPlan, view: TxView & { duplicates?: ReadonlySet<string> }, now: number) {
  const pausedNames = new Set(plan.pauses.map((p) => p.eventName));
  for (const event of plan.events) {
    if (view.duplicates?.has(event.internalId)) continue;
    if (!pausedNames.has(event.name) && !view.hasPauses(event.name)) continue;
    plan.items.push({ runId: "", kind: QueueItemKind.Route, attempt: 0, availableAt: now, payload: { eventId: event.internalId } });
  }
}

export function addRun(plan: IngestPlan, planned: PlannedRun) {
  plan.runs.push(planned.run);
  plan.items.push(...planned.items);
  plan.pauses.push(...planned.pauses);
}

/** Stores `inputs` and starts one run per matching function per event. */
export function planIngest(inputs: readonly EventInput[], registry: FunctionRegistry, now: number, internalIds?: readonly string[]): IngestPlan {
  const plan: IngestPlan = { ...emptyPlan(), dedupeSince: now - dedupeWindowMs };
  for (const [i, input] of inputs.entries()) {
    const record = toEventRecord(input, now, internalIds?.[i]);
    plan.events.push(record);
    plan.ids.push(record.internalId);
    const startAt = Math.max(now, record.ts);
    for (const fn of registry.match(toStoredEvent(record))) addRun(plan, planRun(fn.config, [record], now, startAt));
  }
  return plan;
}
