/**
 * @module realtime/run-context
 * The run a handler's code is running for, so `client.realtime.publish` inside it tags
 * its message with the run's id (as the official SDK does) and uses the call's bus.
 */

import type { RealtimeBus } from "@stepwise/protocol";
import { ambient, withAmbient } from "../execution/ambient.ts";

export interface RunContext {
  runId: string;
  bus?: RealtimeBus | undefined;
}

export function withRunContext<T>(context: RunContext, fn: () => T): T {
  return withAmbient({ run: context }, fn);
}

export function currentRunContext(): RunContext | undefined {
  return ambient()?.run;
}
