/**
 * @module ops
 * Op codes and the op shape a function call reports, exactly as the Inngest protocol
 * writes them (so the HTTP driver passes them through unchanged).
 */
import type { OpMetadata } from "./meta.ts";
import type { SerializedError } from "./serialized-error.ts";

export const OpCode = {
  StepPlanned: "StepPlanned",
  StepRun: "StepRun",
  StepError: "StepError",
  StepFailed: "StepFailed",
  Sleep: "Sleep",
  WaitForEvent: "WaitForEvent",
  WaitForSignal: "WaitForSignal",
  InvokeFunction: "InvokeFunction",
  /** `step.fetch`: the engine performs the HTTP request (`opts: {url, method, headers, body}`). */
  Gateway: "Gateway",
  /** `step.ai.infer`: the engine calls the model provider (`opts: {url, headers, auth_key, format, body}`). */
  AIGateway: "AIGateway",
  RunComplete: "RunComplete",
  /** `defer(id, { function, data })`: start that function once this run ends (rides along other ops). */
  DeferAdd: "DeferAdd",
  /** A defer's `abort()`: the deferred run `opts.target_hashed_id` will not start. */
  DeferAbort: "DeferAbort",
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

export interface Op {
  /** Hashed step id. */
  id: string;
  op: OpCode;
  /** Step name: the user id for runs; the duration/instant for Sleep; the event name for WaitForEvent. */
  name?: string;
  displayName?: string;
  opts?: Record<string, unknown>;
  userland?: { id: string; index?: number };
  data?: unknown;
  error?: SerializedError;
  timing?: { a: number; b: number };
  /** Metadata the step wrote (AI calls, user metadata, scores), as the SDK sent it. */
  metadata?: OpMetadata[];
}

/** A memoized step result as it is stored and replayed. */
export type Memo = { data: unknown } | { error: SerializedError };
