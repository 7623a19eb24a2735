/**
 * @module step
 * The `step` object handlers receive, assembled from one module per tool.
 */
import type { EventPayload } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { createInvoke } from "./invoke.ts";
import { createRun } from "./run.ts";
import { createSendEvent } from "./send-event.ts";
import { createSleep } from "./sleep.ts";
import { createWaitForEvent } from "./wait-for-event.ts";
import { createWaitForSignal } from "./wait-for-signal.ts";

export function createStepTools(request: (r: StepRequest) => Promise<unknown>, send: (events: EventPayload | EventPayload[]) => Promise<{ ids: string[] }>) {
  const { sleep, sleepUntil } = createSleep(request);
  return {
    run: createRun(request),
    sleep,
    sleepUntil,
    waitForEvent: createWaitForEvent(request),
    waitForSignal: createWaitForSignal(request),
    sendEvent: createSendEvent(request, send),
    invoke: createInvoke(request),
  };
}

export type StepTools = ReturnType<typeof createStepTools>;
export type { InvokeOptions } from "./invoke.ts";
export type { StepIdInput } from "./step-id.ts";
export type { WaitForEventOptions } from "./wait-for-event.ts";
export type { WaitForSignalOptions } from "./wait-for-signal.ts";
