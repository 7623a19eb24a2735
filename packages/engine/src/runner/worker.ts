/**
 * @module worker
 * The claim loop. It leases due queue items and hands each to `process`, keeping at
 * most `concurrency` in flight. It never polls on the hot path: new work calls
 * `wake()`, a finished item frees a slot and wakes it, and one timer (not one per run)
 * fires at the earliest future `availableAt`. In-flight leases are extended by one
 * heartbeat for all items; a lease the store reports lost (the item was claimed again
 * after this process stalled past the lease) aborts its call's `AbortSignal`, and the
 * store refuses every write the call still tries.
 *
 * Due work can be blocked: its concurrency keys are full, or another process holds its
 * run. Then the claim returns less than it could while `nextAvailableAt` is already past,
 * and looking again at once would spin on the store. The worker backs off instead (10 ms
 * doubling to 250 ms, or `pollMs` if shorter); a slot freed in this process wakes it at
 * once, and one freed elsewhere is seen within the backoff.
 */
import type { Logger } from "@stepwise/protocol";
import type { Clock } from "../ports/clock.ts";
import type { Lease, QueueItem, Store } from "../ports/store.ts";
import { fault } from "../testing/faults.ts";

const minBlockedBackoffMs = 10;
const maxBlockedBackoffMs = 250;

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  /** Longest the worker sleeps without looking at the queue, for work enqueued by other processes. */
  pollMs: number;
}

interface InFlight {
  done: Promise<void>;
  lease: Lease;
  abort: AbortController;
}

export class Worker {
  private readonly inflight = new Map<string, InFlight>();
  private running = false;
  private pumping = false;
  private wakeRequested = false;
  private wakeScheduled = false;
  private cancelTimer: (() => void) | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private cancelHeartbeat: (() => void) | undefined;
  /** How long to wait before looking again at due work that could not be claimed. */
  private blockedBackoffMs = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: WorkerOptions,
    private readonly process: (item: QueueItem, signal: AbortSignal) => Promise<void>,
    private readonly logger: Logger,
    /** Called for each in-flight call whose lease was lost (metrics). */
    private readonly onLeaseLost: () => void = () => {},
  ) {}

  start() {
    if (this.running) return;
    this.running = true;
    this.scheduleHeartbeat();
    this.wake();
  }

  /** Stops claiming; waits up to `timeoutMs` for in-flight items. Returns how many were left leased. */
  async stop(timeoutMs: number): Promise<number> {
    this.running = false;
    this.cancelTimer?.();
    let timedOut = false;
    await Promise.race([
      Promise.allSettled([...this.inflight.values()].map((f) => f.done)),
      new Promise<void>((resolve) =>
        setTimeout(() => {
          timedOut = true;
          resolve();
        }, timeoutMs).unref(),
      ),
    ]);
    this.cancelHeartbeat?.();
    return timedOut ? this.inflight.size : 0;
  }

  get inflightCount() {
    return this.inflight.size;
  }

  /** Nothing in flight, no claim under way or requested: the last claim found no more due work. */
  get idle() {
    return this.inflight.size === 0 && !this.pumping && !this.wakeScheduled && !this.wakeRequested;
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
        const free = this.options.concurrency - this.inflight.size;
        if (free <= 0) break;
        const now = this.clock.now();
        const { items, nextAvailableAt } = await this.store.claimQueueItems({ now, limit: free, leaseUntil: now + this.options.leaseMs });
        if (items.length) fault("after-claim");
        for (const item of items) this.dispatch(item);
        if (items.length < free) {
          this.arm(this.afterShortClaim(now, items.length, nextAvailableAt));
          break;
        }
        this.blockedBackoffMs = 0;
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
    const abort = new AbortController();
    const done = this.process(item, abort.signal)
      .catch((error) => this.logger.error(`stepwise: run ${item.runId}: ${(error as Error).stack ?? error}`))
      .finally(() => {
        this.inflight.delete(item.id);
        this.wake();
      });
    this.inflight.set(item.id, { done, lease: { itemId: item.id, token: item.token }, abort });
  }

  /** When to look again after a claim got fewer items than it asked for. */
  private afterShortClaim(now: number, claimed: number, nextAvailableAt: number | null): number | null {
    if (nextAvailableAt === null || nextAvailableAt > now) {
      this.blockedBackoffMs = 0;
      return nextAvailableAt;
    }
    // due work is left that this claim could not take: blocked, not waiting for time
    const cap = Math.min(maxBlockedBackoffMs, this.options.pollMs);
    this.blockedBackoffMs = claimed > 0 ? minBlockedBackoffMs : Math.min(cap, Math.max(minBlockedBackoffMs, this.blockedBackoffMs * 2));
    return now + this.blockedBackoffMs;
  }

  /** One timer for the earliest due item (and a poll for other processes' work). */
  private arm(nextAvailableAt: number | null) {
    if (!this.running) return;
    const now = this.clock.now();
    const at = Math.min(nextAvailableAt ?? Number.POSITIVE_INFINITY, now + this.options.pollMs);
    if (this.cancelTimer && at >= this.timerAt && this.timerAt > now) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.clock.setTimer(at, () => {
      this.cancelTimer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.wake();
    });
  }

  private scheduleHeartbeat() {
    const every = Math.max(50, Math.floor(this.options.leaseMs / 3));
    this.cancelHeartbeat = this.clock.setTimer(this.clock.now() + every, () => {
      void this.extendLeases().finally(() => {
        if (this.running || this.inflight.size) this.scheduleHeartbeat();
      });
    });
  }

  private async extendLeases() {
    if (this.inflight.size === 0) return;
    const flights = [...this.inflight.values()];
    try {
      const lost = new Set(await this.store.extendLeases({ leases: flights.map((f) => f.lease), leaseUntil: this.clock.now() + this.options.leaseMs }));
      for (const flight of flights) {
        if (!lost.has(flight.lease.itemId) || flight.abort.signal.aborted) continue;
        this.logger.warn(`stepwise: lost the lease of queue item ${flight.lease.itemId} (this process stalled past it); its call is aborted`);
        flight.abort.abort(new Error("lease lost: another worker has taken this call over"));
        this.onLeaseLost();
      }
    } catch (error) {
      this.logger.warn(`stepwise: extending leases failed: ${(error as Error).message}`);
    }
  }
}
