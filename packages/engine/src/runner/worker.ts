/**
 * @module worker
 * The claim loop. It leases due queue items and hands each to `process`, keeping at
 * most `concurrency` in flight. It never polls on the hot path: new work calls
 * `wake()`, a finished item frees a slot and wakes it, and one timer (not one per run)
 * fires at the earliest future `availableAt`. In-flight leases are extended by one
 * heartbeat for all items, so a live worker keeps its work and a dead one's expires.
 */
import type { Logger } from "@stepwise/protocol";
import type { Clock } from "../ports/clock.ts";
import type { QueueItem, Store } from "../ports/store.ts";
import { fault } from "../testing/faults.ts";

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
}

/** Longest the worker sleeps without looking at the queue, in case another process enqueued work. */
const maxIdleMs = 1_000;

export class Worker {
  private readonly inflight = new Map<string, Promise<void>>();
  /** Claimed items waiting for a concurrency slot: leased, but not using a worker slot. */
  private readonly parked = new Set<string>();
  private running = false;
  private pumping = false;
  private wakeRequested = false;
  private wakeScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: WorkerOptions,
    private readonly process: (item: QueueItem) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start() {
    if (this.running) return;
    this.running = true;
    this.heartbeat = setInterval(() => void this.extendLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    this.wake();
  }

  /** Stops claiming; waits up to `timeoutMs` for in-flight items. Returns how many were left leased. */
  async stop(timeoutMs: number): Promise<number> {
    this.running = false;
    clearTimeout(this.timer);
    let timedOut = false;
    await Promise.race([
      Promise.allSettled([...this.inflight.values()]),
      new Promise<void>((resolve) =>
        setTimeout(() => {
          timedOut = true;
          resolve();
        }, timeoutMs).unref(),
      ),
    ]);
    clearInterval(this.heartbeat);
    return timedOut ? this.inflight.size : 0;
  }

  get inflightCount() {
    return this.inflight.size;
  }

  /** The item waits for something other than a worker slot: claim other work meanwhile. */
  park(itemId: string) {
    if (!this.inflight.has(itemId) || this.parked.has(itemId)) return;
    this.parked.add(itemId);
    this.wake();
  }

  unpark(itemId: string) {
    this.parked.delete(itemId);
  }

  /** Look for due work now (coalesced: many wakes in one tick cost one claim). */
  wake() {
    if (!this.running || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.pump();
    });
  }

  private async pump() {
    if (!this.running) return;
    if (this.pumping) {
      this.wakeRequested = true;
      return;
    }
    this.pumping = true;
    try {
      while (this.running) {
        const free = this.options.concurrency - (this.inflight.size - this.parked.size);
        if (free <= 0) break;
        const now = this.clock.now();
        const { items, nextAvailableAt } = await this.store.claimQueueItems({ now, limit: free, leaseUntil: now + this.options.leaseMs });
        if (items.length) fault("after-claim");
        for (const item of items) this.dispatch(item);
        if (items.length < free) {
          this.arm(nextAvailableAt);
          break;
        }
      }
    } catch (error) {
      this.logger.error(`stepwise: claiming work failed; retrying in 1s: ${(error as Error).message}`);
      this.arm(this.clock.now() + 1_000);
    } finally {
      this.pumping = false;
      if (this.wakeRequested) {
        this.wakeRequested = false;
        this.wake();
      }
    }
  }

  private dispatch(item: QueueItem) {
    const done = this.process(item)
      .catch((error) => this.logger.error(`stepwise: run ${item.runId}: ${(error as Error).stack ?? error}`))
      .finally(() => {
        this.inflight.delete(item.id);
        this.parked.delete(item.id);
        this.wake();
      });
    this.inflight.set(item.id, done);
  }

  /** One timer for the earliest due item. */
  private arm(nextAvailableAt: number | null) {
    if (!this.running) return;
    const now = this.clock.now();
    const at = Math.min(nextAvailableAt ?? Number.POSITIVE_INFINITY, now + maxIdleMs);
    if (this.timer && at >= this.timerAt && this.timerAt > now) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, at - now),
    );
  }

  private async extendLeases() {
    if (this.inflight.size === 0) return;
    try {
      await this.store.extendLeases({ itemIds: [...this.inflight.keys()], leaseUntil: this.clock.now() + this.options.leaseMs });
    } catch (error) {
      this.logger.warn(`stepwise: extending leases failed: ${(error as Error).message}`);
    }
  }
}
