/**
 * @module realtime/run-context
 * The run a handler's code is running for, so `client.realtime.publish` inside it tags
 * its message with the run's id (as the official SDK does) and uses the call's bus.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { RealtimeBus } from "@stepwise/protocol";

export interface RunContext {
  runId: string;
  bus?: RealtimeBus | undefined;
}

const storage = new AsyncLocalStorage<RunContext>();

export function withRunContext<T>(context: RunContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentRunContext(): RunContext | undefined {
  return storage.getStore();
}
