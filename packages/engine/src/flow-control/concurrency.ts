/**
 * @module concurrency
 * Concurrency limits: at most `limit` calls executing at once per key. A key is a virtual
 * queue: `concurrency: { limit: 1, key: "event.data.userId" }` gives every user its own
 * queue. Only executing calls hold a slot; sleeping and waiting runs hold none.
 *
 * The limit is a claim-time condition kept by the store: each queue item of the run
 * carries its keys, and a claim takes an item only while every key has fewer live leases
 * than its limit, counted in the store, so it holds across processes. A run waiting for a
 * slot stays Queued (with `waitingOn`), holding no worker and no memory; a full key never
 * blocks other keys; items of one key are claimed oldest first, so `order: "fifo"` holds.
 * A crashed process's leases expire and stop counting.
 */
import type { ConcurrencyOption, FunctionConfig, StoredEvent } from "@stepwise/protocol";
import { compileExpression } from "../expressions/cel.ts";
import type { ConcurrencyClaim } from "../ports/store.ts";

export interface ConcurrencyKey {
  /** Identity of the virtual queue. */
  key: string;
  /** The key's value as the user wrote it (for `waitingOn`). */
  label: string;
  limit: number;
}

export function concurrencyOptions(config: FunctionConfig): ConcurrencyOption[] {
  const c = config.concurrency;
  if (c === undefined) return [];
  if (typeof c === "number") return [{ limit: c }];
  return Array.isArray(c) ? c : [c];
}

/** The keys a run of `config` triggered by `event` must hold a slot of, while it executes. */
export function concurrencyKeys(config: FunctionConfig, event: StoredEvent | undefined): ConcurrencyKey[] {
  return concurrencyOptions(config).map((option, i) => {
    const value = option.key ? compileExpression(option.key, `function "${config.slug}": concurrency[${i}].key`).evaluate({ event }) : undefined;
    const label = option.key ? JSON.stringify(value ?? null) : config.id;
    const scope = option.scope ?? "fn";
    const owner = scope === "fn" ? config.id : scope;
    return { key: `${owner}|${option.key ?? ""}|${label}`, label, limit: option.limit };
  });
}

/** The claims a queue item of such a run carries: the store leases it only while every key has a free slot. */
export function concurrencyClaims(config: FunctionConfig, event: StoredEvent | undefined): ConcurrencyClaim[] {
  return concurrencyKeys(config, event).map(({ key, limit }) => ({ key, limit }));
}

/** The key's value as the user wrote it, from a stored key (`owner|expression|label`). */
export function concurrencyLabel(key: string): string {
  return key.split("|").slice(2).join("|");
}
