/**
 * @module ordered
 * Ordered fan-out (beyond Inngest): `step.sendEvent(id, events, { order: "preserve" })`.
 * The runs those events start begin in the order of the events, however many workers
 * or nodes claim them: the runs form a chain, and each run but the first is held.
 *
 * - Held: a run's start item (its lane-1 discovery) is stored due far ahead
 *   (`heldForMs`), its payload naming the run before it (`orderedAfter`) and when it
 *   was really due (`dueAt`, flow control's start included); the run before it names
 *   it (`orderedNext`). All of this is written with the events, in the step's commit.
 * - Released: when the run before it starts (its first call has begun: the handler is
 *   under way in-process, the request sent when served), the held item is made due at `dueAt` (or now) in a transaction on
 *   the held run, only while it is still held: a release repeated after a crash, or
 *   racing another, changes nothing. So run k+1 is never claimed before run k's handler
 *   has begun. A crash before the release: run k's start item is claimed again when its
 *   lease expires, and its call releases run k+1 then.
 * - A run that ends while its start item is still there (cancelled while queued, or
 *   before its first call) releases its successor, if still queued (`releasesOnEnd`): a
 *   chain never stalls behind a run that never starts.
 */
import type { IngestPlan } from "../events/intake.ts";
import { type NewQueueItem, QueueItemKind, type RunRecord, RunStatus, type RunView, type Store, type TransitionParams } from "../ports/store.ts";

/** How far ahead a held start item is due: far beyond any lease, so it is never claimed while held. */
export const heldForMs = 365 * 24 * 60 * 60 * 1000;
/** A start item due further ahead than this is held (a lease is minutes at most). */
const heldBeyondMs = 24 * 60 * 60 * 1000;

export interface OrderedPayload {
  orderedAfter?: string;
  orderedNext?: string;
  dueAt?: number;
}

const isStartItem = (item: { kind: string; lane?: number }) => item.kind === QueueItemKind.Discovery && item.lane === 1;

/**
 * Chains the runs the events of each ordered group start (`groups`: internal event ids,
 * in send order), in the plan about to be written. Runs that were not created as queued
 * (skipped by flow control, or gathered into a batch) are left out of the chain.
 */
export function chainOrderedRuns(plan: IngestPlan, groups: readonly (readonly string[])[] | undefined, now: number): void {
  if (!groups?.length) return;
  const runsByEvent = new Map<string, RunRecord[]>();
  for (const run of plan.runs) {
    const eventId = run.eventIds[0];
    if (eventId === undefined || run.status !== RunStatus.Queued) continue;
    runsByEvent.set(eventId, [...(runsByEvent.get(eventId) ?? []), run]);
  }
  const startOf = new Map<string, number>();
  plan.items.forEach((item, index) => {
    if (isStartItem(item)) startOf.set(item.runId, index);
  });
  const items = [...plan.items];
  for (const group of groups) {
    const chain = group.flatMap((eventId) => runsByEvent.get(eventId) ?? []).filter((run) => startOf.has(run.id));
    for (let k = 1; k < chain.length; k++) {
      const before = chain[k - 1] as RunRecord;
      const run = chain[k] as RunRecord;
      const beforeAt = startOf.get(before.id) as number;
      const at = startOf.get(run.id) as number;
      const previous = items[beforeAt] as NewQueueItem;
      items[beforeAt] = { ...previous, payload: { ...previous.payload, orderedNext: run.id } };
      const held = items[at] as NewQueueItem;
      items[at] = { ...held, availableAt: now + heldForMs, payload: { ...held.payload, orderedAfter: before.id, dueAt: held.availableAt } };
      if (!run.waitingOn) run.waitingOn = { kind: "order", key: before.id };
    }
  }
  plan.items = items;
}

/** The successor a run's start item names, if any. */
export function orderedNextOf(item: { kind: string; lane?: number; payload?: Record<string, unknown> }): string | undefined {
  const next = (item.payload as OrderedPayload | undefined)?.orderedNext;
  return isStartItem(item) && typeof next === "string" ? next : undefined;
}

/** Makes the held start item of `runId` due (at its own `dueAt`, or now), if it is still held. */
export async function releaseOrdered(store: Store, runId: string, now: number): Promise<void> {
  await store.transition(runId, {
    now,
    decide(view) {
      const held = view.items().find((i) => isStartItem(i) && i.availableAt > now + heldBeyondMs && (i.payload as OrderedPayload | undefined)?.orderedAfter);
      if (!held) return undefined;
      const dueAt = Number((held.payload as OrderedPayload).dueAt ?? now);
      return { runId, itemId: held.id, reschedule: { availableAt: Math.max(now, Number.isFinite(dueAt) ? dueAt : now), attempt: held.attempt } };
    },
  });
}

/**
 * A run ends while its start item is still queued (never processed, or its first call
 * under way and not yet past the release): its successor must not wait for a start that
 * will never come. Not for the run's own first call ending (that call released it).
 * - The run never started (Queued, read under its lock, so no claim races this): nothing
 *   can have released the successor, its item is held, and the commit that ends the run
 *   makes it due (`runUpdates`).
 * - It had started: its call may have released the successor already (which another node
 *   may be claiming right now), so the successor is released after the commit, through the
 *   guarded `releaseOrdered` (`after`).
 */
export function releasesOnEnd(view: RunView, params: TransitionParams, now: number): { runUpdates: NonNullable<IngestPlan["runUpdates"]>; after: string[] } {
  const none = { runUpdates: [], after: [] };
  if (!params.clearQueue) return none;
  const start = view.items().find((item) => orderedNextOf(item) !== undefined);
  const next = start && orderedNextOf(start);
  if (!start || !next || start.id === params.itemId || view.runStatus(next) !== RunStatus.Queued) return none;
  if (view.run?.status === RunStatus.Queued) return { runUpdates: [{ runId: next, startAt: now }], after: [] };
  return { runUpdates: [], after: [next] };
}
