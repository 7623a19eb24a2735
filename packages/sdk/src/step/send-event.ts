import { type EventPayload, OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** `step.sendEvent(id, event | events)`: sends durably, once; returns the event ids. */
export function createSendEvent(request: (r: StepRequest) => Promise<unknown>, send: (events: EventPayload | EventPayload[]) => Promise<{ ids: string[] }>) {
  return function sendEvent(idInput: StepIdInput, events: EventPayload | EventPayload[]): Promise<{ ids: string[] }> {
    const { id, displayName } = readStepId(idInput, "step.sendEvent");
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      name: "sendEvent",
      opts: { type: "step.sendEvent" },
      fn: () => send(events),
    }) as Promise<{ ids: string[] }>;
  };
}
