/**
 * @module triggers
 * The check the official SDK makes before running a function (inngest-protocol.md §8.8):
 * every event of a call must match one of the function's triggers. `inngest/function.invoked`
 * is always accepted; `inngest/scheduled.timer` only by a cron function.
 */
import { type FunctionConfig, SystemEvent } from "@stepwise/protocol";

function matches(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/** The name of the first event `config` does not accept, or undefined when all are accepted. */
export function findUnexpectedEvent(config: FunctionConfig, events: ReadonlyArray<{ name?: unknown }>): string | undefined {
  const hasCron = config.triggers.some((trigger) => "cron" in trigger);
  for (const event of events) {
    const name = String(event.name);
    if (name === SystemEvent.FunctionInvoked) continue;
    if (name === SystemEvent.ScheduledTimer && hasCron) continue;
    if (config.triggers.some((trigger) => "event" in trigger && matches(trigger.event, name))) continue;
    return name;
  }
  return undefined;
}
