/**
 * @module cron
 * Cron triggers (croner, with time zones: `TZ=Europe/Paris 0 9 * * *`). Each
 * (function, expression) has one row holding its next tick. A tick fires by moving that
 * row forward with a conditional update in the same transaction that writes the tick's
 * event and run, so it fires once even when engines restart around it or several share
 * a database. A tick missed by less than `catchUpMs` (the engine was down) still fires
 * once; an older one is skipped with a warning, never silently. One timer serves all
 * schedules.
 */

import { type FunctionConfig, type Logger, StepwiseError, SystemEvent } from "@stepwise/protocol";
import { Cron } from "croner";
import type { FunctionRegistry } from "../events/function-registry.ts";
import { addRun, emptyPlan, type IngestPlan, planRun, toEventRecord } from "../events/intake.ts";
import type { Clock } from "../ports/clock.ts";
import type { IngestScript, Store } from "../ports/store.ts";

/** A tick due less than this long ago still fires after a restart. */
export const catchUpMs = 60_000;
/** Longest the scheduler waits before looking again (schedules written by other processes). */
const maxSleepMs = 60_000;

const cache = new Map<string, Cron>();

/** Parses `[TZ=Area/City ]<cron>`; throws naming `where` when invalid. */
export function parseCron(expression: string, where: string): Cron {
  const cached = cache.get(expression);
  if (cached) return cached;
  const match = /^\s*(?:TZ=(\S+)\s+)?(.+?)\s*$/.exec(expression);
  let cron: Cron;
  try {
    cron = new Cron(match?.[2] ?? expression, { paused: true, ...(match?.[1] ? { timezone: match[1] } : {}) });
    cron.nextRun();
  } catch (cause) {
    throw new StepwiseError("invalid_config", `${where}: invalid cron ${JSON.stringify(expression)}: ${(cause as Error).message}`, { cause });
  }
  cache.set(expression, cron);
  return cron;
}

/** The first tick strictly after `after`. */
export function nextTick(expression: string, after: number): number {
  const next = parseCron(expression, "cron").nextRun(new Date(after));
  if (!next) throw new StepwiseError("invalid_config", `cron ${JSON.stringify(expression)} has no future tick`);
  return next.getTime();
}

export function cronTriggers(config: FunctionConfig): string[] {
  return config.triggers.flatMap((t) => ("cron" in t ? [t.cron] : []));
}

export class CronScheduler {
  private cancelTimer: (() => void) | undefined;
  private running = false;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      registry: FunctionRegistry;
      logger: Logger;
      wake(): void;
      /** The admission script for a tick's run (flow control applies to cron runs as to any other). */
      admit(plan: IngestPlan, now: number): IngestScript;
    },
  ) {}

  /** Creates missing schedules for every registered cron trigger and arms the timer. */
  async start(): Promise<void> {
    this.running = true;
    await this.sync();
  }

  async sync(): Promise<void> {
    const now = this.deps.clock.now();
    for (const fn of this.deps.registry.all()) {
      for (const expression of cronTriggers(fn.config)) {
        await this.deps.store.ensureCronSchedule({ functionId: fn.config.id, expression, nextAt: nextTick(expression, now) });
      }
    }
    await this.check();
  }

  stop() {
    this.running = false;
    this.cancelTimer?.();
  }

  /** A check (firing due ticks) is under way. */
  get busy(): boolean {
    return this.checking !== undefined;
  }

  /** Fires due ticks, then sleeps until the next one. Safe to call any time. */
  check(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.checking ??= this.fireDue().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async fireDue() {
    const { store, clock, registry, logger } = this.deps;
    const now = clock.now();
    let soonest = now + maxSleepMs;
    for (const schedule of await store.listCronSchedules()) {
      const fn = registry.get(schedule.functionId);
      if (!fn || !cronTriggers(fn.config).includes(schedule.expression)) continue;
      let nextAt = schedule.nextAt;
      if (nextAt <= now) {
        const toAt = nextTick(schedule.expression, Math.max(now, nextAt));
        const plan = emptyPlan();
        // a paused function's tick is admitted without its run (admission reads the pause in the store)
        if (now - nextAt <= catchUpMs) {
          const event = toEventRecord({ name: SystemEvent.ScheduledTimer, data: { cron: schedule.expression } }, now);
          plan.events.push(event);
          addRun(plan, planRun(fn.config, [event], now));
        } else {
          logger.warn(
            `stepwise: cron ${JSON.stringify(schedule.expression)} of "${fn.config.id}" missed its tick at ${new Date(nextAt).toISOString()} (more than ${catchUpMs / 1000}s ago); skipping to ${new Date(toAt).toISOString()}`,
          );
        }
        const moved = await store.advanceCronSchedule(
          { functionId: schedule.functionId, expression: schedule.expression, fromAt: nextAt, toAt, emit: plan },
          this.deps.admit(plan, now),
        );
        if (moved && plan.runs.length) this.deps.wake();
        nextAt = toAt;
      }
      soonest = Math.min(soonest, nextAt);
    }
    if (!this.running) return;
    this.cancelTimer?.();
    this.cancelTimer = clock.setTimer(soonest, () => void this.check());
  }
}
