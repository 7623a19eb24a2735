/**
 * @module defers
 * `defer(id, { function, data })` (the official SDK's experimental API, and ours): a
 * function to start once this run ends. The SDK reports a `DeferAdd` op riding along
 * other ops (a checkpoint, a step's result, the function's return); `abort()` reports a
 * `DeferAbort` naming the add's hashed id in `opts.target_hashed_id`.
 *
 * Each op is recorded as a step of the run (op `DeferAdd` / `DeferAbort`, Completed, its
 * `input` what the op asked), never part of the memo: the SDK learns of them from the
 * call's `defers` (`{ [hashedId]: { abortable } }`) and does not report them again.
 *
 * When the run ends Completed or Failed, the transition that ends it emits one
 * `inngest/deferred.schedule` event per defer not aborted, in the same commit, with
 * `data: { ...input, _inngest: { fn_slug, parent_fn_slug, parent_run_id } }`. Deferred
 * functions trigger on that event with `event.data._inngest.fn_slug == '<their id>'`; the
 * run each event starts records `parentRunId`. A cancelled run starts none of its defers.
 */
import { type EventMeta, type Op, OpCode, StepwiseError, SystemEvent, validateEventMeta } from "@stepwise/protocol";
import { RunStatus, type RunStatus as RunStatusType, type StepRecord, StepStatus } from "../ports/store.ts";
import type { SystemEventInput, Transition } from "./transition.ts";

export function isDeferOp(op: Pick<Op, "op">): boolean {
  return op.op === OpCode.DeferAdd || op.op === OpCode.DeferAbort;
}

export function isDeferStep(step: Pick<StepRecord, "op">): boolean {
  return step.op === OpCode.DeferAdd || step.op === OpCode.DeferAbort;
}

/**
 * What a `DeferAdd` asks: the deferred function's composite id, its data, and the `meta`
 * of the event that starts it (`sessions` the defer names, `propagated_sessions` the
 * calling run's, folded as for any event: the defer's own win).
 */
export interface DeferInput {
  function: string;
  data: Record<string, unknown>;
  meta?: EventMeta;
}

/** The step recording a defer op (never overwritten: an abort is a step of its own). */
export function deferStepFromOp(runId: string, op: Op, now: number): StepRecord {
  const opts = op.opts ?? {};
  const userId = op.userland?.id ?? op.displayName ?? op.name ?? op.id;
  let error: StepRecord["error"];
  let input: DeferInput | { target: string; function: string };
  if (op.op === OpCode.DeferAdd) {
    let meta: EventMeta | undefined;
    try {
      meta = validateEventMeta(opts.meta, `defer("${userId}").opts`);
    } catch (e) {
      // recorded Failed, naming the field: this defer starts nothing
      if (!(e instanceof StepwiseError)) throw e;
      error = { name: "InvalidDefer", message: e.message };
    }
    input = { function: String(opts.fn_slug ?? ""), data: isRecord(opts.input) ? opts.input : {}, ...(meta ? { meta } : {}) };
  } else {
    input = { target: String(opts.target_hashed_id ?? ""), function: String(opts.fn_slug ?? "") };
  }
  return {
    runId,
    id: op.id,
    name: op.op === OpCode.DeferAbort ? `${userId}:abort` : userId,
    op: op.op,
    status: error ? StepStatus.Failed : StepStatus.Completed,
    attempts: 1,
    output: null,
    input,
    ...(error ? { error } : {}),
    startedAt: now,
    endedAt: now,
  };
}

/** The run's defers by hashed id, as a call's `defers`: aborted ones are no longer abortable. */
export function defersOf(steps: readonly StepRecord[]): Record<string, { abortable: boolean }> {
  const aborted = abortedTargets(steps);
  const defers: Record<string, { abortable: boolean }> = {};
  for (const step of steps) if (step.op === OpCode.DeferAdd) defers[step.id] = { abortable: !aborted.has(step.id) };
  return defers;
}

function abortedTargets(steps: readonly StepRecord[]): Set<string> {
  const aborted = new Set<string>();
  for (const step of steps) if (step.op === OpCode.DeferAbort) aborted.add(String((step.input as { target?: unknown } | undefined)?.target ?? ""));
  return aborted;
}

/**
 * Completes a run-ending transition with its defers: the defer ops that rode along the
 * function's return are recorded, and (Completed or Failed) each defer not aborted emits
 * its `inngest/deferred.schedule` event in the same commit.
 */
export function scheduleDefers(
  transition: Transition,
  ctx: { runId: string; functionId: string; known: readonly StepRecord[]; now: number },
  deferred: readonly Op[] = [],
): Transition {
  const known = new Set(ctx.known.map((s) => s.id));
  const recorded = deferred.filter((op) => isDeferOp(op) && !known.has(op.id)).map((op) => deferStepFromOp(ctx.runId, op, ctx.now));
  const ended: RunStatusType | undefined = transition.ended;
  let next = transition;
  if (recorded.length) next = { ...next, params: { ...next.params, steps: [...(next.params.steps ?? []), ...recorded] } };
  if (ended !== RunStatus.Completed && ended !== RunStatus.Failed) return next;
  const all = [...ctx.known, ...(next.params.steps ?? []).filter((s) => isDeferStep(s) && !known.has(s.id))];
  const aborted = abortedTargets(all);
  const events: SystemEventInput[] = [];
  const seen = new Set<string>();
  for (const step of all) {
    if (step.op !== OpCode.DeferAdd || step.status !== StepStatus.Completed || aborted.has(step.id) || seen.has(step.id)) continue;
    seen.add(step.id);
    const input = step.input as DeferInput;
    events.push({
      name: SystemEvent.DeferredSchedule,
      data: { ...input.data, _inngest: { fn_slug: input.function, parent_fn_slug: ctx.functionId, parent_run_id: ctx.runId } },
      ...(input.meta ? { meta: input.meta } : {}),
    });
  }
  return events.length ? { ...next, events: [...next.events, ...events] } : next;
}

/** The run that deferred the run this event starts, if it is a deferred schedule. */
export function deferParentOf(event: { name: string; data: Record<string, unknown> } | undefined): string | undefined {
  if (event?.name !== SystemEvent.DeferredSchedule) return undefined;
  const meta = event.data._inngest;
  return isRecord(meta) && typeof meta.parent_run_id === "string" ? meta.parent_run_id : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
