import { type EventRecord, type NewQueueItem, newId, QueueItemKind, type RunRecord, RunStatus, type Store } from "@stepwise/engine";
import { afterEach, beforeEach } from "vitest";

export interface StoreFactory {
  /** A fresh, migrated store. */
  create(): Promise<Store>;
  /** Closes and removes what `create` made. */
  destroy(store: Store): Promise<void>;
  /**
   * Opens a second, migrated instance (its own connection) on the same database as
   * `store`, as another process would. The suite closes it before `destroy(store)`.
   * Without it, the tests that race two instances are skipped.
   */
  createPeer?(store: Store): Promise<Store>;
}

/** Gives each test a fresh store. */
export function useStore(factory: StoreFactory): () => Store {
  let store: Store | undefined;
  beforeEach(async () => {
    store = await factory.create();
  });
  afterEach(async () => {
    if (store) await factory.destroy(store);
    store = undefined;
  });
  return () => {
    if (!store) throw new Error("store used outside a test");
    return store;
  };
}

/**
 * Gives each test a fresh store and, when the factory can open one, a second instance
 * on the same database (`peer()` is undefined otherwise).
 */
export function useStorePair(factory: StoreFactory): { store: () => Store; peer: () => Store | undefined } {
  let store: Store | undefined;
  let peer: Store | undefined;
  beforeEach(async () => {
    store = await factory.create();
    if (factory.createPeer) peer = await factory.createPeer(store);
  });
  afterEach(async () => {
    await peer?.close();
    peer = undefined;
    if (store) await factory.destroy(store);
    store = undefined;
  });
  return {
    store: () => {
      if (!store) throw new Error("store used outside a test");
      return store;
    },
    peer: () => peer,
  };
}

export function event(name = "test/event", data: Record<string, unknown> = {}, now = 1_000): EventRecord {
  const internalId = newId();
  return { internalId, id: internalId, name, data, user: {}, ts: now, receivedAt: now };
}

export function run(events: EventRecord[], functionId = "app-fn", now = 1_000): RunRecord {
  return { id: newId(), functionId, status: RunStatus.Queued, eventIds: events.map((e) => e.internalId), createdAt: now };
}

export function discovery(runId: string, availableAt = 1_000): NewQueueItem {
  return { runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt };
}

/** The first item of a new run, in the lane for starts. */
export function start(runId: string, availableAt = 1_000): NewQueueItem {
  return { ...discovery(runId, availableAt), lane: 1 };
}

/** Stores one event, one run and its first item. */
export async function seedRun(store: Store, options: { availableAt?: number; functionId?: string; data?: Record<string, unknown> } = {}) {
  const e = event("test/event", options.data ?? {});
  const r = run([e], options.functionId);
  await store.ingestEvents({ events: [e], runs: [r], items: [start(r.id, options.availableAt)] });
  return { event: e, run: r };
}
