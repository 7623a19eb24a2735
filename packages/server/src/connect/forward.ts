/**
 * @module connect/forward
 * Node-to-node forwarding of Connect calls (several nodes on one database): a node with no
 * ready worker of an app posts the call to `POST <node_url>/v0/connect/forward` of a node
 * that holds one (found in the `connect_connections` registry). The body is JSON, signed
 * with the cluster's node secret in `X-Stepwise-Node-Signature` (`t=<unix s>&s=<hex>`: an
 * HMAC-SHA256 of a fixed context string, the body and the timestamp, like request signing
 * but never valid as an Inngest request signature). The answer is the worker's
 * `SDKResponse` (protobuf, 200), or JSON: 503 `no_worker` (nothing was sent to a worker),
 * 502 `worker_failed` (the call reached a worker, which then failed to answer).
 */
import { signBody, verifySignature } from "@stepwise/protocol";

export const forwardPath = "/v0/connect/forward";
export const forwardSignatureHeader = "x-stepwise-node-signature";
/** Domain separation: a forward signature is never a valid `X-Inngest-Signature`, nor the reverse. */
const context = "stepwise connect forward v1\n";

export interface ForwardCall {
  appName: string;
  functionId: string;
  stepId: string;
  runId: string;
  /** The call body (inngest-protocol §8.1), as the JSON text an HTTP call would post. */
  payload: string;
  /** The forwarding node's trace context for the worker (`userTraceCtx`), JSON text; absent: none. */
  traceCtx?: string;
}

export function signForward(body: string, secret: string, t?: number): string {
  return signBody(context + body, secret, t);
}

export function verifyForward(header: string | undefined, body: string, secrets: readonly string[]): boolean {
  return verifySignature(header, context + body, secrets);
}

/** The forwarded call in a body, or a message naming what is wrong with it. */
export function parseForward(body: string): ForwardCall | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return "the body is not JSON";
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return "the body must be a JSON object";
  const v = value as Record<string, unknown>;
  for (const field of ["appName", "functionId", "stepId", "runId", "payload"] as const) {
    if (typeof v[field] !== "string" || (field !== "payload" && !v[field])) return `${field}: expected a non-empty string`;
  }
  if (v.traceCtx !== undefined && typeof v.traceCtx !== "string") return "traceCtx: expected a string";
  const call = { appName: v.appName, functionId: v.functionId, stepId: v.stepId, runId: v.runId, payload: v.payload } as ForwardCall;
  return typeof v.traceCtx === "string" ? { ...call, traceCtx: v.traceCtx } : call;
}
