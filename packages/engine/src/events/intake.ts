/**
 * @module intake
 * Turns validated event payloads into stored events and the runs they start. Pure:
 * the caller writes the result in one transaction.
 */
import type { StoredEvent } from "@stepwise/protocol";
import { newId } from "../ids.ts";
import { type EventRecord, type IngestParams, type NewQueueItem, QueueItemKind, type RunRecord, RunStatus } from "../ports/store.ts";
import type { FunctionRegistry } from "./function-registry.ts";

export interface EventInput {
  name: string;
  data: Record<string, unknown>;
  user?: Record<string, unknown>;
  id?: string;
  ts?: number;
  v?: string;
}

export function toEventRecord(input: EventInput, now: number): EventRecord {
  const internalId = newId();
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
  return record;
}

export function toStoredEvent(record: EventRecord): StoredEvent {
  const event: StoredEvent = { id: record.id, name: record.name, data: record.data, user: record.user, ts: record.ts };
  if (record.v !== undefined) event.v = record.v;
  return event;
}

/** A new run of `functionId` for `events`, due at `availableAt`. */
export function newRun(functionId: string, events: readonly EventRecord[], now: number, availableAt = now): { run: RunRecord; item: NewQueueItem } {
  const run: RunRecord = {
    id: newId(),
    functionId,
    status: RunStatus.Queued,
    eventIds: events.map((e) => e.internalId),
    createdAt: now,
  };
  return { run, item: { runId: run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt } };
}

/** Stores `inputs` and starts one run per matching function per event. */
export function planIngest(inputs: readonly EventInput[], registry: FunctionRegistry, now: number): IngestParams & { ids: string[] } {
  const events: EventRecord[] = [];
  const runs: RunRecord[] = [];
  const items: NewQueueItem[] = [];
  for (const input of inputs) {
    const record = toEventRecord(input, now);
    events.push(record);
    const startAt = Math.max(now, record.ts);
    for (const fn of registry.match(toStoredEvent(record))) {
      const { run, item } = newRun(fn.config.id, [record], now, startAt);
      runs.push(run);
      items.push(item);
    }
  }
  return { events, runs, items, ids: events.map((e) => e.internalId) };
}
