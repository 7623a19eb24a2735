/**
 * @module retention
 * How long finished runs and old events are kept (`EngineOptions.retention`, per function
 * `FunctionConfig.retention`), and the sweep parameters that follow from it at an instant.
 */
import { type FunctionConfig, parseDuration, StepwiseError } from "@stepwise/protocol";
import type { SweepParams, SweepResult } from "./ports/store.ts";

/** A duration (`"7d"`, `"12h"`, `"30s"`, or milliseconds), or `false` to keep forever. */
export type RetentionPeriod = string | number | false;

export interface RetentionOptions {
  /** Finished runs (Completed, Failed, Cancelled, Skipped) with their steps and pauses, counted from when they ended. (Default: "7d".) */
  runs?: RetentionPeriod;
  /** Events, counted from when they were received; an event stays while a stored run refers to it. (Default: "7d".) */
  events?: RetentionPeriod;
}

/** Retention in ms; `undefined` keeps that kind forever. */
export interface RetentionPolicy {
  runsMs: number | undefined;
  eventsMs: number | undefined;
}

export const defaultRetentionMs = 7 * 86_400_000;
/** Shorter retention is refused: a typo like `"7"` (7 ms) would delete runs as they end. */
export const minRetentionMs = 1_000;

function period(value: unknown, field: string): number | undefined {
  if (value === false) return undefined;
  if (typeof value !== "string" && typeof value !== "number") {
    throw new StepwiseError("invalid_argument", `${field}: expected a duration such as "7d" or "12h", or false, received ${JSON.stringify(value)}`);
  }
  const ms = parseDuration(value, field);
  if (ms < minRetentionMs) throw new StepwiseError("invalid_argument", `${field}: must be at least 1s, received ${JSON.stringify(value)}`);
  return ms;
}

/** `EngineOptions.retention` checked, defaults filled in; bad values throw naming the field. */
export function retentionPolicy(given: RetentionOptions | RetentionPeriod | undefined): RetentionPolicy {
  if (given === undefined) return { runsMs: defaultRetentionMs, eventsMs: defaultRetentionMs };
  if (typeof given !== "object" || given === null) {
    const ms = period(given, "retention");
    return { runsMs: ms, eventsMs: ms };
  }
  for (const key of Object.keys(given)) {
    if (key !== "runs" && key !== "events")
      throw new StepwiseError("invalid_argument", `retention: unknown option ${JSON.stringify(key)}; expected runs or events`);
  }
  return {
    runsMs: given.runs === undefined ? defaultRetentionMs : period(given.runs, "retention.runs"),
    eventsMs: given.events === undefined ? defaultRetentionMs : period(given.events, "retention.events"),
  };
}

/** The sweep of one batch at `now`: the global cutoffs, and one per function that sets `retention.runs`. */
export function sweepParams(policy: RetentionPolicy, configs: readonly FunctionConfig[], now: number, limit: number): SweepParams {
  const functions: Array<{ functionId: string; runsEndedBefore: number }> = [];
  for (const config of configs) {
    const runs = config.retention?.runs;
    if (runs !== undefined) functions.push({ functionId: config.id, runsEndedBefore: now - parseDuration(runs, "retention.runs") });
  }
  return {
    now,
    limit,
    ...(policy.runsMs !== undefined ? { runsEndedBefore: now - policy.runsMs } : {}),
    ...(policy.eventsMs !== undefined ? { eventsReceivedBefore: now - policy.eventsMs } : {}),
    ...(functions.length ? { functions } : {}),
  };
}

/** The metric label of each kind a sweep deletes (`stepwise_retention_deleted_total{kind}`). */
export const sweptKinds: ReadonlyArray<readonly [keyof SweepResult, string]> = [
  ["runs", "runs"],
  ["steps", "steps"],
  ["pauses", "pauses"],
  ["events", "events"],
  ["flowRows", "flow_state"],
  ["idempotencyKeys", "idempotency_keys"],
];
