/**
 * @module sessions
 * Session propagation (official SDK v4): a run's sessions (`ctx.sessions`) are stamped as
 * `meta.propagated_sessions` on the events it sends with `step.sendEvent` and on the
 * payloads of its `step.invoke` calls, so the runs they start are in the same sessions.
 * An event's own `meta.sessions` wins per key (a `null` cuts an inherited one). A bare
 * `client.send()` made while a handler runs is stamped too (unless it has the layer).
 */

import { OpCode, stampSessions } from "@stepwise/protocol";
import { ambient, withAmbient } from "../execution/ambient.ts";
import type { StepRequest } from "../execution/call.ts";

/** Stamps one event or a list of them (anything else passes through, to be refused by validation). */
export function stampAll(events: unknown, sessions: Record<string, string>): unknown {
  const stamp = (e: unknown) => (typeof e === "object" && e !== null && !Array.isArray(e) ? stampSessions(e as { meta?: never }, sessions) : e);
  return Array.isArray(events) ? events.map(stamp) : stamp(events);
}

/** An invoke's payload carries the run's sessions; other steps pass through. */
export function stampInvoke(request: StepRequest, sessions: Record<string, string>): StepRequest {
  if (request.op !== OpCode.InvokeFunction) return request;
  const payload = (request.opts?.payload ?? {}) as { meta?: never };
  return { ...request, opts: { ...request.opts, payload: stampSessions(payload, sessions) } };
}

/** Runs a handler so that `client.send()` calls made inside it inherit `sessions`. */
export function withSessions<T>(sessions: Record<string, string> | undefined, run: () => T): T {
  return sessions ? withAmbient({ sessions }, run) : run();
}

/** `payload` stamped with the sessions of the handler this send is made in, if any. */
export function stampFromHandler(payload: unknown): unknown {
  const sessions = ambient()?.sessions;
  return sessions ? stampAll(payload, sessions) : payload;
}
