/**
 * @module function-config
 * The function configuration the engine registers (the Inngest sync payload, in our
 * domain shape) and its validation. Every message names the function and the field.
 * Flow-control options are checked for shape here; enforcing them is the engine's job.
 */
import { StepwiseError } from "./errors.ts";
import { limits } from "./limits.ts";
import { parseDuration } from "./time.ts";

export interface EventTrigger {
  event: string;
  /** CEL over `event`; the function runs only when it is true. */
  if?: string;
}
export interface CronTrigger {
  /** A cron expression, optionally prefixed `TZ=Area/City `. */
  cron: string;
}
export type Trigger = EventTrigger | CronTrigger;

export interface ConcurrencyOption {
  limit: number;
  key?: string;
  scope?: "fn" | "env" | "account";
  order?: "fifo";
}

/**
 * Inngest's `checkpointing` function option (its `CheckpointingOptions`, without the
 * Temporal duration objects): `true` for the defaults, `false` to turn it off, or the
 * tuning knobs. Running in-process always checkpoints each step as it ends. Served
 * functions are always offered async checkpointing (`ctx.fn_id`); the app's SDK applies
 * its own copy of this option, so on the server the value is validated and kept in the
 * config but does not change how it calls.
 */
export type CheckpointingOptions =
  | boolean
  | {
      /** How long to checkpoint before going async; `0` means no limit. */
      maxRuntime?: number | string;
      /** Steps buffered per checkpoint (default 1). */
      bufferedSteps?: number;
      /** The longest wait before a checkpoint even with fewer buffered steps. */
      maxInterval?: number | string;
    };

const checkpointingKeys = ["maxRuntime", "bufferedSteps", "maxInterval"];

export interface FunctionConfig {
  /** Composite id used across apps: `<appId>-<functionId>`. */
  id: string;
  /** The function id as the user wrote it. */
  slug: string;
  appId: string;
  name: string;
  triggers: Trigger[];
  /** Retries per step and per call (attempts = retries + 1). */
  retries: number;
  concurrency?: number | ConcurrencyOption | ConcurrencyOption[];
  throttle?: { limit: number; period: string; burst?: number; key?: string };
  rateLimit?: { limit: number; period: string; key?: string };
  debounce?: { period: string; key?: string; timeout?: string };
  priority?: { run?: string };
  batchEvents?: { maxSize: number; timeout: string; key?: string; if?: string };
  idempotency?: string;
  singleton?: { key?: string; mode: "skip" | "cancel" };
  cancelOn?: Array<{ event: string; if?: string; match?: string; timeout?: string | number }>;
  timeouts?: { start?: string | number; finish?: string | number };
  checkpointing?: CheckpointingOptions;
  /**
   * Stepwise extension: how long this function's finished runs (with their steps) are kept
   * after they end, overriding the engine's `retention.runs` (e.g. `{ runs: "3d" }`, at
   * least 1s). Served apps send it in their sync; the server applies it when present.
   */
  retention?: { runs?: string | number };
}

type Issue = (field: string, message: string) => never;

function checkPeriod(fail: Issue, field: string, value: unknown, minMs?: number, maxMs?: number) {
  if (typeof value !== "string" && typeof value !== "number") fail(field, `expected a duration such as "30s", received ${typeof value}`);
  let ms = 0;
  try {
    ms = parseDuration(value as string | number, field);
  } catch (error) {
    fail(field, (error as Error).message.replace(`${field}: `, ""));
  }
  if (minMs !== undefined && ms < minMs) fail(field, `must be at least ${minMs / 1000}s, received ${JSON.stringify(value)}`);
  if (maxMs !== undefined && ms > maxMs) fail(field, `must be at most ${maxMs / 1000}s, received ${JSON.stringify(value)}`);
}

function checkPositiveInt(fail: Issue, field: string, value: unknown, max?: number) {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) fail(field, `expected a positive integer, received ${JSON.stringify(value)}`);
  if (max !== undefined && (value as number) > max) fail(field, `must be at most ${max}, received ${value}`);
}

function checkString(fail: Issue, field: string, value: unknown) {
  if (value !== undefined && (typeof value !== "string" || value.trim() === "")) fail(field, `expected a non-empty string, received ${JSON.stringify(value)}`);
}

/** Validates a config; throws `StepwiseError("invalid_config")` naming function and field. */
export function validateFunctionConfig(config: FunctionConfig): FunctionConfig {
  const fail: Issue = (field, message) => {
    throw new StepwiseError("invalid_config", `function "${config.slug}": ${field}: ${message}`);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(config.slug)) fail("id", `must be letters, digits, "-", "_", ".", ":" (received ${JSON.stringify(config.slug)})`);
  if (!Number.isInteger(config.retries) || config.retries < 0 || config.retries > limits.maxRetries) {
    fail("retries", `must be an integer from 0 to ${limits.maxRetries}, received ${JSON.stringify(config.retries)}`);
  }
  if (config.triggers.length > limits.triggersPerFunction)
    fail("triggers", `at most ${limits.triggersPerFunction} triggers, received ${config.triggers.length}`);
  config.triggers.forEach((trigger, i) => {
    const field = `triggers[${i}]`;
    if (typeof trigger !== "object" || trigger === null) fail(field, "expected { event } or { cron }");
    if ("event" in trigger) {
      checkString(fail, `${field}.event`, trigger.event);
      if (typeof trigger.event !== "string") fail(`${field}.event`, "is required");
      checkString(fail, `${field}.if`, trigger.if);
    } else if ("cron" in trigger) {
      checkString(fail, `${field}.cron`, trigger.cron);
      if (typeof trigger.cron !== "string") fail(`${field}.cron`, "is required");
    } else fail(field, `expected { event: "name" } or { cron: "* * * * *" }, received ${JSON.stringify(trigger)}`);
  });
  const concurrency = config.concurrency;
  if (concurrency !== undefined) {
    const list = typeof concurrency === "number" ? [{ limit: concurrency }] : Array.isArray(concurrency) ? concurrency : [concurrency];
    if (list.length > limits.concurrencyLimits) fail("concurrency", `at most ${limits.concurrencyLimits} limits, received ${list.length}`);
    list.forEach((c, i) => {
      const field = Array.isArray(concurrency) ? `concurrency[${i}]` : "concurrency";
      checkPositiveInt(fail, `${field}.limit`, c.limit);
      checkString(fail, `${field}.key`, c.key);
      if (c.scope !== undefined && !["fn", "env", "account"].includes(c.scope))
        fail(`${field}.scope`, `expected "fn", "env" or "account", received ${JSON.stringify(c.scope)}`);
      if (c.order !== undefined && c.order !== "fifo") fail(`${field}.order`, `expected "fifo", received ${JSON.stringify(c.order)}`);
    });
  }
  if (config.throttle) {
    checkPositiveInt(fail, "throttle.limit", config.throttle.limit);
    checkPeriod(fail, "throttle.period", config.throttle.period, 1000, 7 * 86_400_000);
    if (config.throttle.burst !== undefined) checkPositiveInt(fail, "throttle.burst", config.throttle.burst);
    checkString(fail, "throttle.key", config.throttle.key);
  }
  if (config.rateLimit) {
    checkPositiveInt(fail, "rateLimit.limit", config.rateLimit.limit);
    checkPeriod(fail, "rateLimit.period", config.rateLimit.period, 1000, 86_400_000);
    checkString(fail, "rateLimit.key", config.rateLimit.key);
  }
  if (config.debounce) {
    checkPeriod(fail, "debounce.period", config.debounce.period, 1000, 7 * 86_400_000);
    if (config.debounce.timeout !== undefined) checkPeriod(fail, "debounce.timeout", config.debounce.timeout, 1000, 7 * 86_400_000);
    checkString(fail, "debounce.key", config.debounce.key);
  }
  if (config.priority) checkString(fail, "priority.run", config.priority.run);
  if (config.batchEvents) {
    checkPositiveInt(fail, "batchEvents.maxSize", config.batchEvents.maxSize, 100);
    checkPeriod(fail, "batchEvents.timeout", config.batchEvents.timeout, 1000, 60_000);
    checkString(fail, "batchEvents.key", config.batchEvents.key);
    checkString(fail, "batchEvents.if", config.batchEvents.if);
  }
  checkString(fail, "idempotency", config.idempotency);
  if (config.singleton) {
    if (config.singleton.mode !== "skip" && config.singleton.mode !== "cancel")
      fail("singleton.mode", `expected "skip" or "cancel", received ${JSON.stringify(config.singleton.mode)}`);
    checkString(fail, "singleton.key", config.singleton.key);
  }
  if (config.cancelOn) {
    if (config.cancelOn.length > limits.cancelOnPerFunction)
      fail("cancelOn", `at most ${limits.cancelOnPerFunction} entries, received ${config.cancelOn.length}`);
    config.cancelOn.forEach((c, i) => {
      checkString(fail, `cancelOn[${i}].event`, c.event);
      if (typeof c.event !== "string") fail(`cancelOn[${i}].event`, "is required");
      checkString(fail, `cancelOn[${i}].if`, c.if);
      checkString(fail, `cancelOn[${i}].match`, c.match);
      if (c.timeout !== undefined) checkPeriod(fail, `cancelOn[${i}].timeout`, c.timeout);
    });
  }
  if (config.timeouts?.start !== undefined) checkPeriod(fail, "timeouts.start", config.timeouts.start);
  if (config.timeouts?.finish !== undefined) checkPeriod(fail, "timeouts.finish", config.timeouts.finish);
  const checkpointing = config.checkpointing;
  if (checkpointing !== undefined && typeof checkpointing !== "boolean") {
    if (typeof checkpointing !== "object" || checkpointing === null || Array.isArray(checkpointing))
      fail("checkpointing", `expected true, false or { maxRuntime, bufferedSteps, maxInterval }, received ${JSON.stringify(checkpointing)}`);
    for (const key of Object.keys(checkpointing)) {
      if (!checkpointingKeys.includes(key)) fail("checkpointing", `unknown option ${JSON.stringify(key)}; expected maxRuntime, bufferedSteps or maxInterval`);
    }
    if (checkpointing.maxRuntime !== undefined) checkPeriod(fail, "checkpointing.maxRuntime", checkpointing.maxRuntime);
    if (checkpointing.bufferedSteps !== undefined) checkPositiveInt(fail, "checkpointing.bufferedSteps", checkpointing.bufferedSteps);
    if (checkpointing.maxInterval !== undefined) checkPeriod(fail, "checkpointing.maxInterval", checkpointing.maxInterval);
  }
  const retention = config.retention;
  if (retention !== undefined) {
    if (typeof retention !== "object" || retention === null || Array.isArray(retention))
      fail("retention", `expected { runs: "7d" }, received ${JSON.stringify(retention)}`);
    for (const key of Object.keys(retention)) if (key !== "runs") fail("retention", `unknown option ${JSON.stringify(key)}; expected runs`);
    if (retention.runs !== undefined) checkPeriod(fail, "retention.runs", retention.runs, 1000);
  }
  return config;
}
