/**
 * @module step
 * The `step` object handlers receive, assembled from one module per tool. `StepTools<E>`
 * types it for a client's event map `E` (see `events/types.ts`).
 */
import type { EventPayload } from "@stepwise/protocol";
import type { StandardSchemaV1 } from "../events/standard-schema.ts";
import type { EventMap, SendPayloadOf, UntypedEvents, WaitEventName, WaitForEventResult } from "../events/types.ts";
import type { SchemaRegistry } from "../events/validate.ts";
import type { StepRequest } from "../execution/call.ts";
import type { Jsonify } from "../execution/json.ts";
import { createAi, type StepAi } from "./ai.ts";
import { createStepFetch, type StepFetch } from "./fetch.ts";
import { currentParallelMode } from "./group.ts";
import { createInvoke, type InvokeOptions, type InvokeResult, type InvokeTarget } from "./invoke.ts";
import { createStepMetadataTools, type ScoreOptions, type StepMetadata } from "./metadata.ts";
import { createRealtimeStep, type RealtimePublisher, type RealtimeStepTools } from "./realtime.ts";
import { createRun, type StepRunOptions } from "./run.ts";
import { createSendEvent, type SendEventOptions } from "./send-event.ts";
import { createSendSignal, type SendSignalOptions, type SignalSender } from "./send-signal.ts";
import { createSleep } from "./sleep.ts";
import type { StepIdInput } from "./step-id.ts";
import { createWaitForEvent, type WaitForEventOptions } from "./wait-for-event.ts";
import { createWaitForSignal, type WaitForSignalOptions } from "./wait-for-signal.ts";

/** The step tools of a handler whose client has the event map `E`. */
export interface StepTools<E extends EventMap = UntypedEvents> {
  /**
   * `step.run(id, fn)`: runs `fn` once, durably. Its JSON result is stored; later calls
   * of the run return the stored result without running `fn` again. A throw retries
   * this step alone with backoff; after the last attempt `step.run` throws `StepError`.
   * Beyond Inngest, `{ id, retries, timeout, backoff }` sets this step's own policy, and
   * `fn` receives an `AbortSignal` that aborts on the step's timeout, on run
   * cancellation and when the engine loses the call's lease.
   */
  run<T>(id: StepIdInput | StepRunOptions, fn: (signal: AbortSignal) => T | Promise<T>): Promise<Jsonify<Awaited<T>>>;
  /** Pauses the run for a duration (`"30s"`, `"2h45m"`, `"3 days"`, or ms), up to a year. */
  sleep(id: StepIdInput, duration: string | number): Promise<void>;
  /** Pauses until a `Date` or ISO instant (past: no pause). */
  sleepUntil(id: StepIdInput, until: Date | string): Promise<void>;
  /**
   * The first matching event received after the wait began, or `null` on timeout. With
   * schemas the name must be a known event and the result is typed by it.
   */
  waitForEvent<const Event extends WaitEventName<E>, Schema extends StandardSchemaV1<Record<string, unknown>> | undefined = undefined>(
    id: StepIdInput,
    options: WaitForEventOptions<Event> & { schema?: Schema },
  ): Promise<WaitForEventResult<E, Event, Schema> | null>;
  /** Waits until `engine.sendSignal(signal, data)`; `{ signal, data }`, or `null` on timeout. */
  waitForSignal<Data = unknown>(id: StepIdInput, options: WaitForSignalOptions): Promise<{ signal: string; data: Data } | null>;
  /**
   * Sends durably, once; returns the event ids. With schemas only known names with their data.
   * `{ order: "preserve" }` (beyond Inngest, in-process): the runs the events start begin in the events' order.
   */
  sendEvent(id: StepIdInput, events: SendPayloadOf<E> | readonly SendPayloadOf<E>[], options?: SendEventOptions): Promise<{ ids: string[] }>;
  /**
   * Sends a signal durably, once: resumes the run waiting on it (`step.waitForSignal`) with
   * `data`. Returns `{ runId }`, undefined when no run waits on the signal.
   */
  sendSignal(id: StepIdInput, options: SendSignalOptions): Promise<{ runId: string | undefined }>;
  /** Runs another function and returns its (JSON) result; its failure throws. */
  invoke<const F extends InvokeTarget>(id: StepIdInput, options: InvokeOptions<F>): Promise<InvokeResult<F>>;
  /**
   * A durable HTTP request, made by the engine while the function is not running and
   * memoized as `{ status_code, headers, body }`: resolves with a `Response` (any status;
   * a network failure or timeout is a step error, retried). Its step id is `"step.fetch: <hostname>"`.
   */
  fetch: StepFetch;
  /** `step.ai.infer` (a model call made by the engine) and `step.ai.wrap` (an AI call in your code, as a step). */
  ai: StepAi;
  /** A durable step writing run metadata once: `step.metadata(id).set(values, kind?)` or `.update(...)` (kind `userland.<kind>`). */
  metadata(id: StepIdInput): StepMetadata;
  /** A durable step scoring the run once: `{ name, value }`, a finite number or a boolean (kind `inngest.score`). */
  score(id: StepIdInput, options: Pick<ScoreOptions, "name" | "value">): Promise<void>;
  /** Realtime: `step.realtime.publish(id, channel.topic, data)`, a memoized publish (docs/realtime.md). */
  realtime: RealtimeStepTools;
}

export function createStepTools(
  request: (r: StepRequest) => Promise<unknown>,
  send: (events: EventPayload | EventPayload[], options?: SendEventOptions) => Promise<{ ids: string[] }>,
  schemas?: SchemaRegistry,
  sendSignal?: SignalSender,
  publish?: RealtimePublisher,
): StepTools {
  const plain = request;
  // steps started inside `group.parallel` carry its mode, as the official SDK's ops do
  request = (r) => {
    const parallelMode = currentParallelMode();
    return plain(parallelMode ? { ...r, opts: { ...(r.opts ?? {}), parallelMode } } : r);
  };
  const { sleep, sleepUntil } = createSleep(request);
  const tools = {
    run: createRun(request),
    sleep,
    sleepUntil,
    waitForEvent: createWaitForEvent(request),
    waitForSignal: createWaitForSignal(request),
    sendEvent: createSendEvent(request, send, schemas),
    invoke: createInvoke(request),
    sendSignal: createSendSignal(request, sendSignal),
    fetch: createStepFetch(request),
    ai: createAi(request),
    ...createStepMetadataTools(request),
    realtime: createRealtimeStep(request, publish),
  };
  return tools as unknown as StepTools;
}

export type { InferOptions, StepAi } from "./ai.ts";
export type { DurableFetch, GatewayResponse, StepFetch } from "./fetch.ts";
export { group, type ParallelOptions } from "./group.ts";
export type { InvokeOptions, InvokeResult, InvokeTarget } from "./invoke.ts";
export type { MetadataBuilder, ScoreOptions, StepMetadata } from "./metadata.ts";
export type { RealtimePublisher, RealtimeStepTools } from "./realtime.ts";
export { type StepBackoff, type StepRunOptions, StepTimeoutError } from "./run.ts";
export type { SendSignalOptions } from "./send-signal.ts";
export type { StepIdInput } from "./step-id.ts";
export type { WaitForEventOptions } from "./wait-for-event.ts";
export type { WaitForSignalOptions } from "./wait-for-signal.ts";
