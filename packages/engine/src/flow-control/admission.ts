/**
 * @module admission
 * Flow control at the moment runs are created, with Inngest's semantics:
 *
 * - `batchEvents`: events gather into one pending run (per key) that starts when `maxSize`
 *   is reached or `timeout` after the first; `if` picks which events batch.
 * - `debounce`: one pending run per key, re-armed by each newer event (which replaces the
 *   older one); it starts `period` after the last event, or `timeout` after the first.
 *   Events older (`ts`) than the pending one are ignored.
 * - `idempotency`: one run per key value per 24 h; later ones are dropped.
 * - `rateLimit`: at most `limit` runs per `period` per key; the rest are recorded as
 *   `Skipped` with the reason, never run late.
 * - `singleton`: one live run per key; `skip` records the new one as `Skipped`, `cancel`
 *   cancels the old one.
 * - `throttle`: GCRA on run starts per key (emission interval `period / limit`, tolerance
 *   `burst` intervals), so no window of `period` sees more than `limit + burst` starts;
 *   excess runs are delayed, in order, not dropped.
 * - `priority.run`: seconds (−600…600) added to a run's place in the start queue.
 *
 * - paused functions: a run an event or a cron tick plans for a function paused on any
 *   node (`paused|<id>` in the store) is dropped here, inside the transaction, so a pause
 *   holds across the cluster from the instant it commits. Invoked runs still start.
 *
 * State lives in the store (`flow_state`). Admission is a store script: it runs inside the
 * ingest transaction, over the flow-state keys it names, so concurrent sends (from any
 * process) see each other's state, and its writes commit with the runs. Its follow-ups
 * (a singleton `cancel`) are queue items written in that same transaction.
 */
import { type FunctionConfig, parseDuration, type SerializedError, SystemEvent } from "@stepwise/protocol";
import type { FunctionRegistry } from "../events/function-registry.ts";
import { type IngestPlan, toStoredEvent } from "../events/intake.ts";
import { compileExpression } from "../expressions/cel.ts";
import {
  type EventRecord,
  type FlowStateEntry,
  type NewQueueItem,
  QueueItemKind,
  type RunRecord,
  RunStatus,
  type TxView,
  terminalStatuses,
  type WaitingOn,
} from "../ports/store.ts";

const dayMs = 86_400_000;
const yearMs = 366 * dayMs;

interface Decision {
  drop?: boolean;
  skip?: SerializedError;
  /** Held (batch, debounce, throttle) until then: priority may reorder the run, never start it sooner. */
  startAt?: number;
  shiftMs?: number;
  waitingOn?: WaitingOn;
}

export function hasFlowControl(config: FunctionConfig): boolean {
  return !!(config.batchEvents || config.debounce || config.idempotency || config.rateLimit || config.singleton || config.throttle || config.priority?.run);
}

export class Admission {
  constructor(private readonly deps: { registry: FunctionRegistry }) {}

  private configOf(run: RunRecord): FunctionConfig | undefined {
    return this.deps.registry.get(run.functionId)?.config;
  }

  private controlled(plan: IngestPlan) {
    const events = new Map(plan.events.map((e) => [e.internalId, e]));
    return plan.runs.flatMap((run) => {
      const config = this.configOf(run);
      return config && hasFlowControl(config) ? [{ run, config, event: events.get(run.eventIds[0] ?? "") }] : [];
    });
  }

  /** The flow-state keys `admit` will read for this plan. */
  flowKeys(plan: IngestPlan): string[] {
    const keys = this.controlled(plan).flatMap(({ config, event }) => Object.values(stateKeys(config, event)).filter((k): k is string => !!k));
    for (const run of pausable(plan)) keys.push(pausedKey(run.functionId));
    return [...new Set(keys)];
  }

  /**
   * Applies every rule to the plan's new runs, in order, on state read through `view`
   * (inside the store transaction). Changes `plan` in place: pass a copy (`clonePlan`).
   */
  admit(plan: IngestPlan, now: number, view: TxView & { duplicates?: ReadonlySet<string> }): void {
    // runs of duplicate events start nothing and must not touch flow state
    if (view.duplicates?.size) {
      const dup = view.duplicates;
      const dropped = new Set(plan.runs.filter((r) => dup.has(r.eventIds[0] ?? "")).map((r) => r.id));
      if (dropped.size) {
        plan.runs = plan.runs.filter((r) => !dropped.has(r.id));
        plan.items = plan.items.filter((i) => !dropped.has(i.runId));
        plan.pauses = plan.pauses.filter((p) => !dropped.has(p.runId));
      }
    }
    const paused = new Set(pausable(plan).flatMap((run) => (view.flow(pausedKey(run.functionId)) ? [run.id] : [])));
    if (paused.size) {
      plan.runs = plan.runs.filter((r) => !paused.has(r.id));
      plan.items = plan.items.filter((i) => !paused.has(i.runId));
      plan.pauses = plan.pauses.filter((p) => !paused.has(p.runId));
    }
    const keyed = this.controlled(plan);
    if (keyed.length === 0) return;
    const state = new Map<string, unknown>();
    for (const key of this.flowKeys(plan)) {
      const value = view.flow(key);
      if (value !== undefined) state.set(key, value);
    }
    const writes = new Map<string, FlowStateEntry>();
    const put = (key: string, value: unknown, expiresAt: number) => {
      state.set(key, value);
      writes.set(key, { key, value, expiresAt });
    };
    const drop = (key: string) => {
      state.delete(key);
      writes.set(key, { key, value: null, expiresAt: 0 });
    };
    const runUpdates = [...(plan.runUpdates ?? [])];
    const followUps: NewQueueItem[] = [];

    for (const { run, config, event } of keyed) {
      if (!event) continue;
      const keys = stateKeys(config, event);
      const decision: Decision = {};
      // 1. batch: append to the pending run, or become it (the key is released when that run starts)
      if (config.batchEvents && keys.batch) {
        const pending = state.get(keys.batch) as { runId: string; eventIds: string[]; startAt: number } | undefined;
        if (pending) {
          const eventIds = [...pending.eventIds, event.internalId];
          const full = eventIds.length >= config.batchEvents.maxSize;
          runUpdates.push({
            runId: pending.runId,
            eventIds,
            ...(full ? { startAt: now, waitingOn: { kind: "scheduled", until: now } } : {}),
          });
          if (full) drop(keys.batch);
          else put(keys.batch, { ...pending, eventIds }, pending.startAt);
          decision.drop = true;
        } else if (config.batchEvents.maxSize > 1) {
          const startAt = now + parseDuration(config.batchEvents.timeout);
          put(keys.batch, { runId: run.id, eventIds: [event.internalId], startAt }, startAt);
          run.pendingKey = keys.batch;
          decision.startAt = startAt;
          decision.waitingOn = { kind: "batch", key: keyLabel(keys.batch), until: startAt };
        }
      }
      // 2. debounce: re-arm the pending run with the newest event
      if (!decision.drop && config.debounce && keys.debounce) {
        const periodMs = parseDuration(config.debounce.period);
        const capMs = config.debounce.timeout !== undefined ? parseDuration(config.debounce.timeout) : Number.POSITIVE_INFINITY;
        const pending = state.get(keys.debounce) as { runId: string; ts: number; firstAt: number } | undefined;
        if (pending) {
          decision.drop = true;
          if (event.ts >= pending.ts) {
            const startAt = Math.min(now + periodMs, pending.firstAt + capMs);
            runUpdates.push({
              runId: pending.runId,
              eventIds: [event.internalId],
              startAt,
              waitingOn: { kind: "debounce", key: keyLabel(keys.debounce), until: startAt },
            });
            put(keys.debounce, { ...pending, ts: event.ts }, startAt);
          }
        } else {
          const startAt = Math.min(now + periodMs, now + capMs);
          put(keys.debounce, { runId: run.id, ts: event.ts, firstAt: now }, startAt);
          run.pendingKey = keys.debounce;
          decision.startAt = startAt;
          decision.waitingOn = { kind: "debounce", key: keyLabel(keys.debounce), until: startAt };
        }
      }
      // 3. idempotency
      if (!decision.drop && keys.idempotency) {
        if (state.has(keys.idempotency)) decision.drop = true;
        else put(keys.idempotency, run.id, now + dayMs);
      }
      // 4. rate limit: a sliding window of start times
      if (!decision.drop && config.rateLimit && keys.rateLimit) {
        const periodMs = parseDuration(config.rateLimit.period);
        const starts = ((state.get(keys.rateLimit) as number[] | undefined) ?? []).filter((t) => t > now - periodMs);
        if (starts.length >= config.rateLimit.limit) {
          decision.skip = {
            name: "RateLimitedError",
            message: `skipped: rateLimit of ${config.rateLimit.limit} per ${config.rateLimit.period} reached${config.rateLimit.key ? ` for key ${keyLabel(keys.rateLimit)}` : ""}`,
          };
        } else {
          put(keys.rateLimit, [...starts, now], now + periodMs);
        }
      }
      // 5. singleton
      if (!decision.drop && !decision.skip && config.singleton && keys.singleton) {
        const active = state.get(keys.singleton) as string | undefined;
        const pendingHere = plan.runs.some((r) => r.id === active && r.status !== RunStatus.Skipped);
        const status = active && !pendingHere ? view.runStatus(active) : undefined;
        const live = active && active !== run.id ? pendingHere || (status !== undefined && !terminalStatuses.has(status)) : false;
        if (live && config.singleton.mode === "skip") {
          decision.skip = { name: "SingletonSkippedError", message: `skipped: run ${active} is already running for singleton key ${keyLabel(keys.singleton)}` };
        } else {
          if (live && active) {
            followUps.push({
              runId: active,
              kind: QueueItemKind.Cancel,
              attempt: 0,
              availableAt: now,
              payload: { reason: { name: "RunCancelledError", message: `cancelled: run ${run.id} replaced it for singleton key ${keyLabel(keys.singleton)}` } },
            });
          }
          put(keys.singleton, run.id, now + yearMs);
        }
      }
      // 6. throttle (GCRA)
      if (!decision.drop && !decision.skip && config.throttle && keys.throttle) {
        const intervalMs = parseDuration(config.throttle.period) / config.throttle.limit;
        const toleranceMs = (config.throttle.burst ?? 0) * intervalMs;
        const due = Math.max(now, decision.startAt ?? now);
        const tat = Math.max((state.get(keys.throttle) as number | undefined) ?? due, due);
        const startAt = Math.max(due, tat - toleranceMs);
        put(keys.throttle, tat + intervalMs, tat + intervalMs + parseDuration(config.throttle.period));
        decision.startAt = startAt;
        if (startAt > now) decision.waitingOn = { kind: "throttle", key: keyLabel(keys.throttle), until: startAt };
      }
      // 7. priority
      if (!decision.drop && !decision.skip && config.priority?.run) {
        const value = Number(compileExpression(config.priority.run, `function "${config.slug}": priority.run`).evaluate({ event: toStoredEvent(event) }));
        if (Number.isFinite(value)) decision.shiftMs = -Math.max(-600, Math.min(600, Math.trunc(value))) * 1000;
      }
      apply(plan, run, decision, now);
    }
    plan.items.push(...followUps);
    Object.assign(plan, { flowState: [...(plan.flowState ?? []), ...writes.values()], runUpdates });
  }
}

/** The state keys a run of `config` for `event` uses, one per configured rule. */
function stateKeys(config: FunctionConfig, event: EventRecord | undefined) {
  const stored = event ? toStoredEvent(event) : undefined;
  const value = (expression: string | undefined, field: string) =>
    expression ? JSON.stringify(compileExpression(expression, `function "${config.slug}": ${field}`).evaluate({ event: stored }) ?? null) : "*";
  const batchApplies =
    config.batchEvents &&
    (!config.batchEvents.if || compileExpression(config.batchEvents.if, `function "${config.slug}": batchEvents.if`).matches({ event: stored }));
  const singletonValue = config.singleton ? value(config.singleton.key, "singleton.key") : undefined;
  return {
    batch: batchApplies ? `batch|${config.id}|${value(config.batchEvents?.key, "batchEvents.key")}` : undefined,
    debounce: config.debounce ? `debounce|${config.id}|${value(config.debounce.key, "debounce.key")}` : undefined,
    idempotency: config.idempotency ? `idempotency|${config.id}|${value(config.idempotency, "idempotency")}` : undefined,
    rateLimit: config.rateLimit ? `rate|${config.id}|${value(config.rateLimit.key, "rateLimit.key")}` : undefined,
    // a singleton key that evaluates to false means "no singleton for this event"
    singleton: config.singleton && singletonValue !== "false" ? `singleton|${config.id}|${singletonValue}` : undefined,
    throttle: config.throttle ? `throttle|${config.id}|${value(config.throttle.key, "throttle.key")}` : undefined,
  };
}

function keyLabel(key: string): string {
  return key.split("|").slice(2).join("|");
}

/** Writes a decision into the plan: drop the run, record it as skipped, or move its start. */
function apply(plan: IngestPlan, run: RunRecord, decision: Decision, now: number) {
  const removeWork = () => {
    plan.items = plan.items.filter((item) => item.runId !== run.id);
    plan.pauses = plan.pauses.filter((pause) => pause.runId !== run.id);
  };
  if (decision.drop) {
    plan.runs = plan.runs.filter((r) => r !== run);
    removeWork();
    return;
  }
  if (decision.skip) {
    Object.assign(run, { status: RunStatus.Skipped, error: decision.skip, endedAt: now });
    removeWork();
    return;
  }
  if (decision.waitingOn) run.waitingOn = decision.waitingOn;
  for (const item of plan.items) {
    if (item.runId !== run.id || item.lane !== 1) continue;
    const shifted = item.availableAt + (decision.shiftMs ?? 0);
    // a held run starts no sooner than its hold ends, whatever its priority
    item.availableAt = decision.startAt !== undefined ? Math.max(shifted, decision.startAt) : shifted;
  }
}

/** The flow-state key that marks a function paused (written by `engine.pause`). */
export function pausedKey(functionId: string): string {
  return `paused|${functionId}`;
}

/** Runs a pause holds back: those started by events and cron ticks, not by `step.invoke` or Invoke. */
function pausable(plan: IngestPlan): IngestPlan["runs"] {
  const invoked = new Set(plan.events.filter((e) => e.name === SystemEvent.FunctionInvoked).map((e) => e.internalId));
  return plan.runs.filter((run) => !invoked.has(run.eventIds[0] ?? ""));
}
