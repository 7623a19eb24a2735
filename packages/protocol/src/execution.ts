/**
 * @module execution
 * The contract between the engine and a function: what one call receives and what it
 * reports. The in-process driver calls `FunctionHandle.execute` directly; the HTTP
 * driver turns the same input into an Inngest call request and the response back into
 * an `ExecutionResult`. The engine never sees user code, only this contract.
 */
import type { StoredEvent } from "./event.ts";
import type { FunctionConfig } from "./function-config.ts";
import type { MetadataTarget, MetadataUpdate } from "./meta.ts";
import type { Memo, Op } from "./ops.ts";
import type { RealtimeBus } from "./realtime.ts";
import type { SerializedError } from "./serialized-error.ts";

/** How `step.sendEvent` sends (beyond Inngest). */
export interface SendEventsOptions {
  /** `"preserve"`: the runs these events start begin in the order of the events (in-process engine only). */
  order?: "preserve";
}

export interface ExecutionInput {
  runId: string;
  /** The first triggering event. */
  event: StoredEvent;
  /** All triggering events (more than one for batches). */
  events: StoredEvent[];
  /** Memoized results by hashed step id. */
  memo: ReadonlyMap<string, Memo>;
  /** Zero-based attempt of the work this call retries (a step, or the call itself). */
  attempt: number;
  /** Total attempts allowed (retries + 1): the SDK uses it to mark the last attempt final. */
  maxAttempts: number;
  /** Run only this planned step (a branch of a parallel group), then report. */
  targetStepId?: string;
  /**
   * Report a lone new `step.run` as `StepPlanned` instead of running it in this call
   * (the protocol's `ctx.disable_immediate_execution`, set once a run has gone parallel).
   */
  disableImmediateExecution?: boolean;
  /**
   * The run is in a parallel phase (a call answered more than one op, and its branches have
   * not all settled since). Served drivers then send `ctx.disable_immediate_execution: true`,
   * as Inngest's executor does, so each new step runs in a call of its own; in-process
   * functions ignore it.
   */
  parallel?: boolean;
  /**
   * Checkpointing. When present, a lone new `step.run` executes in this call, its
   * outcome is handed here to be persisted, and the handler continues; without it the
   * call reports after the first step (the classic protocol).
   */
  checkpoint?: (op: Op) => Promise<void>;
  /**
   * Names this claimed call (its queue item and lease token, `<itemId>.<token>`): with
   * `checkpoint`, checkpoints may arrive out of band under it, such as a served app's
   * `POST /v1/checkpoint/{runId}/async` (`Engine.checkpoint`).
   */
  callId?: string;
  /**
   * Aborted when the engine gives up this call (its lease was lost: another worker has
   * taken it over) or, in-process, when the run is cancelled. Handlers see it as
   * `ctx.signal`, and each `step.run` gets one that follows it, to stop work such as a `fetch`.
   */
  signal?: AbortSignal;
  /**
   * Where `step.sendEvent` sends, in-process: the events are validated and given ids
   * now, and stored in the same transaction as the step's result, so a crash between the
   * two can neither lose them nor send them twice. Without it, `client.send` is used.
   */
  sendEvents?: (events: unknown, options?: SendEventsOptions) => Promise<{ ids: string[] }>;
  /** Where `step.sendSignal` signals, in-process (the engine's `sendSignal`). Without it, the client's API is used. */
  sendSignal?: (signal: string, data: unknown) => Promise<{ runId: string }>;
  /** Where `step.realtime.publish` publishes, in-process (the engine's bus). Without it, the client's. */
  realtime?: RealtimeBus;
  /**
   * The engine's clock: the SDK dates a `RetryAfterError`'s retry with it, so a manual
   * clock in tests moves SDK time too. (Default: `Date.now`.)
   */
  now?: () => number;
  /**
   * Served calls: the request version the app answered with on an earlier call of this
   * run (`x-inngest-req-version`), sent back on every later call. Absent on a run's first
   * call, where the SDK chooses (-1 on the wire).
   */
  requestVersion?: number;
  /**
   * The run's defers (`defer()`) recorded so far, by hashed id: the SDK does not report
   * them again, and `abortable: false` (already aborted) makes their `abort()` a no-op.
   * Sent to served apps as the request's `defers`.
   */
  defers?: Readonly<Record<string, { abortable: boolean }>>;
}

export type ExecutionResult =
  /** The handler returned: the run is complete. */
  (
    | { type: "function-resolved"; data: unknown }
    /** The handler threw outside a step. */
    | {
        type: "function-rejected";
        error: SerializedError;
        retriable: boolean;
        retryAt?: number;
        /**
         * Served calls: no SDK answered (connection refused or reset, a timeout before the
         * reply, a proxy's 502/503/504, a reply without SDK headers). The engine retries the
         * call on its app-outage backoff without spending an attempt of the function's `retries`.
         */
        unreachable?: boolean;
      }
    /** The call stopped at steps the engine must act on (planned, run, errored, sleeps, waits). */
    | { type: "steps"; ops: Op[]; retryAt?: number }
  ) & {
    /** Served calls: the request version the app answered with (`x-inngest-req-version`), recorded for the run. */
    requestVersion?: number;
    /** `DeferAdd` / `DeferAbort` ops that rode along the function's return or final error. */
    deferred?: Op[];
  };

/** A function as the engine drives it. */
export interface FunctionHandle {
  readonly config: FunctionConfig;
  /** Functions registered along with this one (its onFailure handler). */
  readonly companions?: readonly FunctionHandle[];
  execute(input: ExecutionInput): Promise<ExecutionResult>;
}

/** Where a client's `send` goes once it is bound to an engine or a server. */
export type EventSender = (events: unknown) => Promise<{ ids: string[] }>;

/** What `engine.register` needs from a client. */
export interface ClientHandle {
  readonly id: string;
  bindSender(sender: EventSender | undefined): void;
  /** Where `client.score` / `client.metadata` write outside a step: the engine the client is registered with. */
  bindMetadataWriter?(writer: MetadataWriter | undefined): void;
  /** Where `realtime.publish` and `subscribe` go once bound to an engine in this process. */
  bindRealtime?(bus: RealtimeBus | undefined): void;
}

/** Writes metadata updates for a run (`target`: a step of it, or the run itself). */
export type MetadataWriter = (runId: string, updates: MetadataUpdate[], target: Omit<MetadataTarget, "run_id">) => Promise<void>;
