/**
 * @module resume
 * What a matched pause, an expired pause and a cancellation mean for a run: pure
 * builders of transitions, like `transition.ts`.
 */
import { type FunctionConfig, type SerializedError, SystemEvent } from "@stepwise/protocol";
import { toStoredEvent } from "../events/intake.ts";
import {
  type EventRecord,
  PauseKind,
  type PauseRecord,
  type QueueItem,
  QueueItemKind,
  type RunState,
  RunStatus,
  type StepRecord,
  StepStatus,
  type TransitionParams,
} from "../ports/store.ts";
import { endRun, type Transition } from "./transition.ts";

const discoveryAt = (runId: string, now: number) => ({ runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt: now });

type Settled = NonNullable<TransitionParams["settleSteps"]>[number];

function settle(stepId: string, outcome: { output: unknown } | { error: SerializedError }, now: number): Settled {
  return "error" in outcome
    ? { id: stepId, status: StepStatus.Failed, error: outcome.error, endedAt: now, attempts: 1 }
    : { id: stepId, status: StepStatus.Completed, output: outcome.output, endedAt: now, attempts: 1 };
}

/** A wait or invoke pause matched `event`: memoize the step and discover. */
export function resumeTransition(pause: PauseRecord, event: EventRecord, now: number): Transition {
  const stepId = pause.stepId ?? "";
  let outcome: { output: unknown } | { error: SerializedError };
  if (pause.kind === PauseKind.Invoke) {
    const data = event.data as { result?: unknown; error?: SerializedError | null };
    outcome = data.error ? { error: data.error } : { output: data.result ?? null };
  } else if (pause.kind === PauseKind.Signal) {
    outcome = { output: { signal: event.data.signal, data: event.data.data ?? null } };
  } else {
    outcome = { output: toStoredEvent(event) };
  }
  return {
    params: {
      runId: pause.runId,
      consumePause: pause.id,
      settleSteps: [settle(stepId, outcome, now)],
      cancelItems: [{ kind: QueueItemKind.PauseTimeout, stepId }],
    },
    events: [],
    discoverWhenIdle: discoveryAt(pause.runId, now),
  };
}

/** A wait or invoke timed out: the wait returns null, the invoke throws. */
export function pauseTimeoutTransition(item: QueueItem, step: StepRecord, now: number): Transition {
  const outcome =
    step.op === "InvokeFunction"
      ? { error: { name: "InngestInvokeTimeoutError", message: "Timed out waiting for invoked function to complete" } }
      : { output: null };
  return {
    params: {
      runId: item.runId,
      itemId: item.id,
      consumePause: `${item.runId}:${step.id}`,
      settleSteps: [settle(step.id, outcome, now)],
    },
    events: [],
    discoverWhenIdle: discoveryAt(item.runId, now),
  };
}

/** A sleep ended: memoize it. */
export function sleepEndedStep(stepId: string, now: number): Settled {
  return settle(stepId, { output: null }, now);
}

/** Cancels a run (cancelOn, timeouts, the API): ends it, clears its queue and pauses, emits `function.cancelled`. */
export function cancelTransition(
  state: RunState,
  config: FunctionConfig,
  now: number,
  reason: SerializedError,
  options: { consumePause?: string; item?: QueueItem } = {},
): Transition {
  const transition = endRun({ state, config, now, ...(options.item ? { item: options.item } : {}) }, RunStatus.Cancelled, { error: reason });
  if (options.consumePause) transition.params = { ...transition.params, consumePause: options.consumePause };
  return transition;
}

export const cancelReasons = {
  event: (pause: PauseRecord, event: EventRecord): SerializedError => ({
    name: "RunCancelledError",
    message: `cancelled by event "${event.name}" (${event.internalId}) matching cancelOn (${pause.expression ?? "any"})`,
  }),
  startTimeout: (config: FunctionConfig): SerializedError => ({
    name: "TimeoutError",
    message: `cancelled: did not start within timeouts.start (${config.timeouts?.start})`,
  }),
  finishTimeout: (config: FunctionConfig): SerializedError => ({
    name: "TimeoutError",
    message: `cancelled: did not finish within timeouts.finish (${config.timeouts?.finish})`,
  }),
  api: (): SerializedError => ({ name: "RunCancelledError", message: "cancelled by request" }),
};

export { SystemEvent };
