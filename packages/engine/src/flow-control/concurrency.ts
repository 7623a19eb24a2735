/**
 * @module concurrency
 * Concurrency limits: at most `limit` calls executing at once per key. A key is a virtual
 * queue: `concurrency: { limit: 1, key: "event.data.userId" }` gives every user its own
 * queue. Only executing calls hold a slot; sleeping and waiting runs hold none.
 *
 * A claimed call whose key is full waits in that key's FIFO (so `order: "fifo"` keys start
 * in claim order, which is event order) and gives its worker slot back, so a hot key never
 * blocks other keys. Slots live in this process; a crashed process holds none, and its
 * leased work is claimed again after the lease, so nothing is lost across a restart.
 * (Several processes sharing one database each count their own slots.)
 */
import type { ConcurrencyOption, FunctionConfig, StoredEvent } from "@stepwise/protocol";
import { compileExpression } from "../expressions/cel.ts";

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

export class ConcurrencySlots {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  /**
   * Takes a slot of every key (in a fixed order, so two calls can never hold one each of
   * the other's keys). `onWait` is called once if any key is full. Resolves with the
   * release function.
   */
  async acquire(keys: readonly ConcurrencyKey[], onWait: (key: ConcurrencyKey) => void): Promise<() => void> {
    const ordered = [...keys].sort((a, b) => (a.key < b.key ? -1 : 1));
    const held: ConcurrencyKey[] = [];
    let waited = false;
    for (const key of ordered) {
      if ((this.active.get(key.key) ?? 0) >= key.limit) {
        if (!waited) onWait(key);
        waited = true;
        await new Promise<void>((resolve) => {
          const queue = this.waiting.get(key.key) ?? [];
          queue.push(resolve);
          this.waiting.set(key.key, queue);
        });
      } else {
        this.active.set(key.key, (this.active.get(key.key) ?? 0) + 1);
      }
      held.push(key);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of held) this.release(key.key);
    };
  }

  /** Frees a slot: hands it straight to the key's next waiter, if any. */
  private release(key: string) {
    const next = this.waiting.get(key)?.shift();
    if (next) {
      if (this.waiting.get(key)?.length === 0) this.waiting.delete(key);
      next();
      return;
    }
    const left = (this.active.get(key) ?? 1) - 1;
    if (left > 0) this.active.set(key, left);
    else this.active.delete(key);
  }

  /** Executing calls per key (for tests and the dashboard). */
  inUse(key: string): number {
    return this.active.get(key) ?? 0;
  }
}
