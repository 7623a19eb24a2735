/**
 * @module serializers
 * Engine records as the REST API shows them (Inngest v1 shapes, snake_case).
 */
import type { EventRecord, ReplayJob, RunDetails, RunMetadata, RunRecord, StepRecord, StuckRun } from "@stepwise/engine";
import { eventSessions } from "@stepwise/protocol";

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function runToJson(run: RunRecord) {
  return {
    run_id: run.id,
    function_id: run.functionId,
    event_id: run.eventIds[0] ?? null,
    event_ids: run.eventIds,
    status: run.status,
    output: run.output ?? null,
    error: run.error ?? null,
    created_at: iso(run.createdAt),
    run_started_at: iso(run.startedAt),
    ended_at: iso(run.endedAt),
    /** A deferred run (`defer()`): the run that deferred it. */
    parent_run_id: run.parentRunId ?? null,
  };
}

export function stepToJson(step: StepRecord) {
  return {
    id: step.id,
    name: step.name,
    display_name: step.displayName ?? step.name,
    op: step.op,
    status: step.status,
    attempts: step.attempts,
    input: step.input ?? null,
    output: step.output ?? null,
    error: step.error ?? null,
    started_at: iso(step.startedAt),
    ended_at: iso(step.endedAt),
    wake_at: iso(step.wakeAt),
    metadata: step.metadata ?? [],
  };
}

/** A run's metadata: `run` and `steps` by kind, `scores` by name. */
export function metadataToJson(m: RunMetadata | undefined) {
  return { run: m?.run ?? {}, steps: m?.steps ?? {}, scores: m?.scores ?? {} };
}

/** `deferred`: the runs this run deferred (`defer()`), started once it ended. */
export function runDetailsToJson(run: RunDetails, deferred: readonly RunRecord[] = []) {
  return {
    ...runToJson(run),
    steps: run.steps.map(stepToJson),
    waiting_on: run.waitingOn ?? null,
    metadata: metadataToJson(run.metadata),
    deferred_runs: deferred.map((r) => ({ run_id: r.id, function_id: r.functionId, status: r.status })),
    rerun_of: run.rerunOf ?? null,
    rerun_from_step: run.rerunFromStep ?? null,
  };
}

export function replayToJson(job: ReplayJob) {
  return {
    id: job.id,
    function_id: job.functionId,
    statuses: job.statuses,
    from: iso(job.from),
    to: iso(job.to),
    state: job.state,
    total: job.total,
    done: job.done,
    error: job.error ?? null,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
  };
}

export function stuckRunToJson(run: StuckRun) {
  return {
    run_id: run.id,
    function_id: run.functionId,
    status: run.status,
    created_at: iso(run.createdAt),
    run_started_at: iso(run.startedAt),
    waiting_on: run.waitingOn,
  };
}

export function eventToJson(event: EventRecord) {
  return {
    internal_id: event.internalId,
    id: event.id,
    name: event.name,
    data: event.data,
    user: event.user,
    ts: event.ts,
    v: event.v ?? null,
    received_at: iso(event.receivedAt),
    duplicate: event.duplicate ?? false,
    meta: event.meta ?? null,
    sessions: eventSessions(event.meta),
  };
}
