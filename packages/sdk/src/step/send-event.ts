import { type EventPayload, OpCode } from "@stepwise/protocol";
import { type SchemaRegistry, validateOutgoingEvents } from "../events/validate.ts";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** Options of `step.sendEvent` (beyond Inngest). */
export interface SendEventOptions {
  /**
   * `"preserve"`: the runs these events start begin in the order of the events, however
   * many workers or nodes claim them (each waits for the one before it to start). In-process
   * engine only: a served function fails the step with a message saying so.
   */
  order?: "preserve";
}

/**
 * `step.sendEvent(id, event | events, options?)`: sends durably, once; returns the event ids.
 * Events with a schema (made by an `EventType`, or named like one of the client's
 * trigger event types) are validated first: a bad one fails the step without retries.
 */
export function createSendEvent(
  request: (r: StepRequest) => Promise<unknown>,
  send: (events: EventPayload | EventPayload[], options?: SendEventOptions) => Promise<{ ids: string[] }>,
  schemas?: SchemaRegistry,
) {
  return function sendEvent(idInput: StepIdInput, events: EventPayload | EventPayload[], options?: SendEventOptions): Promise<{ ids: string[] }> {
    const { id, displayName } = readStepId(idInput, "step.sendEvent");
    const order = options?.order;
    if (order !== undefined && order !== "preserve") {
      return Promise.reject(new TypeError(`step.sendEvent("${id}"): options.order must be "preserve" or absent, received ${JSON.stringify(order)}`));
    }
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      name: "sendEvent",
      opts: { type: "step.sendEvent", ...(order ? { order } : {}) },
      fn: () => validateOutgoingEvents(events, schemas, `step.sendEvent("${id}")`).then(() => send(events, order ? { order } : undefined)),
    }) as Promise<{ ids: string[] }>;
  };
}
