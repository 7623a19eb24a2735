import { formatDuration, OpCode, type StoredEvent } from "@stepwise/protocol";
import { EventValidationError } from "../errors.ts";
import { type AnyEventType, isEventType } from "../events/event-type.ts";
import type { StandardSchemaV1 } from "../events/standard-schema.ts";
import { validateData } from "../events/validate.ts";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface WaitForEventOptions<Event extends string | AnyEventType = string | AnyEventType> {
  /** The awaited event: its name, or an `EventType` (whose schema then checks the event received). */
  event: Event;
  /** How long to wait (`"7d"`, ms); on timeout the step returns `null`. */
  timeout: string | number;
  /** `"data.orderId"` matches when `event.data.orderId == async.data.orderId`. */
  match?: string;
  /** CEL with `event` (this run's trigger) and `async` (the incoming event). */
  if?: string;
  /** Beyond Inngest: also match an event received up to this long before the wait began. */
  lookback?: string | number;
  /** Inngest v4: a schema that types and checks the event received (with a name for `event`). */
  schema?: StandardSchemaV1<Record<string, unknown>>;
}

/** `step.waitForEvent(id, opts)`: the first matching event received after the wait began, or `null`. */
export function createWaitForEvent(request: (r: StepRequest) => Promise<unknown>) {
  return async function waitForEvent(idInput: StepIdInput, options: WaitForEventOptions): Promise<StoredEvent | null> {
    const { id, displayName } = readStepId(idInput, "step.waitForEvent");
    const awaited = isEventType(options?.event) ? options.event : undefined;
    const eventName = awaited ? awaited.name : options?.event;
    if (!options || typeof eventName !== "string" || eventName === "") throw new TypeError(`step.waitForEvent("${id}"): "event" is required`);
    if (options.timeout === undefined) throw new TypeError(`step.waitForEvent("${id}"): "timeout" is required`);
    if (options.match && options.if) throw new TypeError(`step.waitForEvent("${id}"): give "match" or "if", not both`);
    const expression = options.match ? `event.${options.match} == async.${options.match}` : options.if;
    const opts: Record<string, unknown> = { timeout: typeof options.timeout === "number" ? formatDuration(options.timeout) : options.timeout };
    if (expression) opts.if = expression;
    if (options.lookback !== undefined) opts.lookback = options.lookback;
    const received = await request({ id, ...(displayName ? { displayName } : {}), op: OpCode.WaitForEvent, name: eventName, opts });
    // A served function's memo comes from the server: refuse an event it was not waiting for.
    const name = (received as { name?: unknown } | null)?.name;
    if (received !== null && typeof received === "object" && typeof name === "string" && name !== eventName) {
      throw new EventValidationError(`Event not found in triggers: ${name}`);
    }
    const schema = awaited ? awaited.schema : options.schema;
    if (received !== null && schema) await validateData(schema, (received as StoredEvent).data, `step.waitForEvent("${id}")`, eventName);
    return received as StoredEvent | null;
  };
}
