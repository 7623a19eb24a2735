import { type EventPayload, OpCode } from "@stepwise/protocol";
import { type SchemaRegistry, validateOutgoingEvents } from "../events/validate.ts";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/**
 * `step.sendEvent(id, event | events)`: sends durably, once; returns the event ids.
 * Events with a schema (made by an `EventType`, or named like one of the client's
 * trigger event types) are validated first: a bad one fails the step without retries.
 */
export function createSendEvent(
  request: (r: StepRequest) => Promise<unknown>,
  send: (events: EventPayload | EventPayload[]) => Promise<{ ids: string[] }>,
  schemas?: SchemaRegistry,
) {
  return function sendEvent(idInput: StepIdInput, events: EventPayload | EventPayload[]): Promise<{ ids: string[] }> {
    const { id, displayName } = readStepId(idInput, "step.sendEvent");
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      name: "sendEvent",
      opts: { type: "step.sendEvent" },
      fn: () => validateOutgoingEvents(events, schemas, `step.sendEvent("${id}")`).then(() => send(events)),
    }) as Promise<{ ids: string[] }>;
  };
}
