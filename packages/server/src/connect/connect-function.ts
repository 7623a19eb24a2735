/**
 * @module connect/connect-function
 * A function served by a Connect worker: a `FunctionHandle` whose `execute` sends the same
 * call request as an HTTP call (inngest-protocol §8.1) over a worker's WebSocket and turns
 * the worker's `SDKResponse` back into an `ExecutionResult` (§8.2) — the HTTP driver with
 * the transport swapped for the gateway.
 */
import type { ExecutionInput, ExecutionResult, FunctionConfig, FunctionHandle } from "@stepwise/protocol";
import { canonicalJson } from "../driver/canonical-json.ts";
import { decodeResponse } from "../driver/http-function.ts";
import { type Message, ResponseStatus, type schemas } from "./wire.ts";

/** What a `ConnectFunction` needs from the gateway: one call to some worker of `appName`. */
export interface ConnectDispatcher {
  dispatch(fn: ConnectFunction, input: ExecutionInput, payload: Uint8Array): Promise<ExecutionResult>;
}

export class ConnectFunction implements FunctionHandle {
  readonly config: FunctionConfig;

  /** `appName` is the app id the worker connected with (its client's `id`). */
  constructor(
    config: FunctionConfig,
    readonly appName: string,
    private readonly gateway: ConnectDispatcher,
  ) {
    this.config = config;
  }

  execute(input: ExecutionInput): Promise<ExecutionResult> {
    return this.gateway.dispatch(this, input, callPayload(input));
  }
}

/** The JSON call body (§8.1), as bytes: what an HTTP call would post. */
export function callPayload(input: ExecutionInput): Uint8Array {
  const stack = [...input.memo.keys()];
  return new TextEncoder().encode(
    canonicalJson({
      event: input.event,
      events: input.events,
      steps: Object.fromEntries(input.memo),
      ctx: {
        run_id: input.runId,
        attempt: input.attempt,
        max_attempts: input.maxAttempts,
        disable_immediate_execution: input.targetStepId !== undefined || input.parallel === true,
        use_api: false,
        stack: { stack, current: stack.length },
      },
      version: input.requestVersion ?? -1,
    }),
  );
}

/**
 * A worker's reply as the HTTP response it stands for, classified like one. `DONE` is the
 * SDK's 200 and also its final-error 400: the two differ by `no_retry`.
 */
export function decodeReply(reply: Message<typeof schemas.SDKResponse>, where: string, now: number): Promise<ExecutionResult> {
  const status = reply.status === ResponseStatus.NOT_COMPLETED ? 206 : reply.status === ResponseStatus.ERROR ? 500 : reply.noRetry ? 400 : 200;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-inngest-sdk": reply.sdkVersion || "connect",
    "x-inngest-no-retry": String(reply.noRetry),
  };
  if (reply.retryAfter) headers["retry-after"] = reply.retryAfter;
  if (reply.requestVersion) headers["x-inngest-req-version"] = String(reply.requestVersion);
  return decodeResponse(new Response(reply.body.length ? new TextDecoder().decode(reply.body) : null, { status, headers }), where, now);
}
