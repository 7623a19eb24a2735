/**
 * @module @stepwise/protocol
 * Pure types and functions shared by the SDK and the engine: events, time strings,
 * step-id hashing, op codes, function configs, limits, errors. No I/O.
 */
export * from "./errors.ts";
export * from "./event.ts";
export * from "./event-id-seed.ts";
export * from "./execution.ts";
export * from "./function-config.ts";
export * from "./limits.ts";
export * from "./logger.ts";
export * from "./meta.ts";
export * from "./ops.ts";
export * from "./serialized-error.ts";
export * from "./signing.ts";
export * from "./step-id.ts";
export * from "./time.ts";
