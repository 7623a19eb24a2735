/**
 * @module function-definition
 * A function's config in the shape a sync sends (`functions[]` of `/fn/register`,
 * inngest-protocol.md §5.2): composite id, triggers with `expression`, one HTTP step
 * whose URL is the serve URL plus `fnId` and `stepId=step`, and the flow-control keys.
 */
import { type FunctionConfig, formatDuration, SystemEvent } from "@stepwise/protocol";

export interface FunctionDefinition {
  id: string;
  name: string;
  triggers: Array<{ event: string; expression?: string } | { cron: string }>;
  steps: { step: { id: "step"; name: "step"; runtime: { type: "http"; url: string }; retries: { attempts: number } } };
  [option: string]: unknown;
}

function toTimeString(value: string | number): string {
  return typeof value === "number" ? formatDuration(value) : value;
}

/** The step URL the server calls for function `id`: `serveUrl` with `fnId=<id>&stepId=step`. */
export function stepUrl(serveUrl: URL, id: string): string {
  const url = new URL(serveUrl);
  url.searchParams.set("fnId", id);
  url.searchParams.set("stepId", "step");
  return url.href;
}

export function toFunctionDefinition(config: FunctionConfig, serveUrl: URL): FunctionDefinition {
  const definition: FunctionDefinition = {
    id: config.id,
    name: config.name,
    // Invocation needs no trigger: the server delivers `inngest/function.invoked` directly.
    triggers: config.triggers
      .filter((trigger) => !("event" in trigger && trigger.event === SystemEvent.FunctionInvoked))
      .map((trigger) => ("cron" in trigger ? { cron: trigger.cron } : { event: trigger.event, ...(trigger.if ? { expression: trigger.if } : {}) })),
    steps: {
      step: { id: "step", name: "step", runtime: { type: "http", url: stepUrl(serveUrl, config.id) }, retries: { attempts: config.retries } },
    },
  };
  const { concurrency, throttle, rateLimit, debounce, priority, batchEvents, idempotency, singleton, cancelOn, timeouts, retention } = config;
  if (idempotency !== undefined) definition.idempotency = idempotency;
  if (batchEvents !== undefined) definition.batchEvents = batchEvents;
  if (rateLimit !== undefined) definition.rateLimit = rateLimit;
  if (throttle !== undefined) definition.throttle = throttle;
  if (concurrency !== undefined) definition.concurrency = concurrency;
  if (debounce !== undefined) definition.debounce = debounce;
  if (priority !== undefined) definition.priority = priority;
  if (singleton !== undefined) definition.singleton = singleton;
  // a Stepwise extension: the Stepwise server reads it, Inngest ignores it
  if (retention !== undefined) definition.retention = retention;
  if (timeouts !== undefined) {
    definition.timeouts = Object.fromEntries(Object.entries(timeouts).map(([key, value]) => [key, toTimeString(value as string | number)]));
  }
  if (cancelOn !== undefined) {
    definition.cancel = cancelOn.map((cancel) => {
      const expression = cancel.if ?? (cancel.match ? `event.${cancel.match} == async.${cancel.match}` : undefined);
      return {
        event: cancel.event,
        ...(cancel.timeout !== undefined ? { timeout: toTimeString(cancel.timeout) } : {}),
        ...(expression ? { if: expression } : {}),
      };
    });
  }
  return definition;
}
