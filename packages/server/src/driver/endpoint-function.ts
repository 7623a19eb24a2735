/**
 * @module endpoint-function
 * Durable endpoints that went async (inngest-protocol §10.5). An `inngest.endpoint()`
 * route runs its steps in its own request; when it meets what it cannot finish there (a
 * sleep, a wait, a step to retry) it answers its client with a redirect to the run's
 * output and the engine takes the run over. Each later call re-enters the route: the
 * original method, URL and body, marked as an Inngest call by `x-run-id` and
 * `x-inngest-signature`, so the SDK runs the handler as a function call, reads the run's
 * memoized steps over `use_api` (`GET /v0/runs/{runId}/actions`) and answers with ops.
 * Those are the steps the engine hands this call (a sleep that just ended is among them
 * before it is stored), so the route answers them while the call is in flight: the SDK
 * must reach the node that called it, as for checkpoints.
 *
 * The route is the one the run's `inngest/http.request` event names (`domain`, `path`,
 * `query_params`). That address came from the app's request, so a server that calls it
 * only calls origins it was told to trust (`allowedOrigins`; any origin when unset, as
 * `stepwise dev` runs it).
 */
import { randomUUID } from "node:crypto";
import { type ExecutionInput, type ExecutionResult, type FunctionConfig, type FunctionHandle, type Memo, signBody } from "@stepwise/protocol";
import { classifyReply, send, transportError, unreachable } from "./http-function.ts";

/** Function ids of durable-endpoint runs (`POST /v1/checkpoint`) start with this. */
export const endpointFunctionPrefix = "endpoint ";

/** The app id durable-endpoint runs are reported under (the SDK sends none of its own). */
export const endpointAppId = "durable-endpoints";

export interface EndpointDriverOptions {
  signingKey?: string;
  serverKind: "dev" | "cloud";
  /** A re-entry that takes longer fails and is retried. (Default: 5 minutes.) */
  timeoutMs?: number;
  /** Origins (`https://api.example.com`) the server may re-enter; unset: any. */
  allowedOrigins?: readonly string[];
}

/** Retries of an endpoint whose SDK did not say (the SDK's own default). */
const defaultRetries = 3;

/**
 * The drivers of durable-endpoint runs: pass `driver` to the engine as
 * `EngineOptions.durableEndpoints` and this object to the server (`ServerOptions.endpoints`),
 * which notes each endpoint's retries as its runs start.
 */
export class DurableEndpoints {
  private readonly drivers = new Map<string, FunctionHandle>();
  private readonly retries = new Map<string, number>();
  /** The memo of each re-entry in flight, by run: what `GET /v0/runs/{runId}/actions` answers. */
  private readonly calls = new Map<string, ReadonlyMap<string, Memo>>();

  constructor(private readonly options: EndpointDriverOptions) {}

  /** The driver for `functionId`, or `undefined` when it is not a durable endpoint's. */
  readonly driver = (functionId: string): FunctionHandle | undefined => {
    if (!functionId.startsWith(endpointFunctionPrefix)) return undefined;
    const known = this.drivers.get(functionId);
    if (known) return known;
    const slug = functionId.slice(endpointFunctionPrefix.length);
    const retries = this.retries.get(functionId) ?? defaultRetries;
    const config: FunctionConfig = { id: functionId, slug, appId: endpointAppId, name: slug, triggers: [], retries };
    const handle: FunctionHandle = {
      config,
      execute: async (input) => {
        this.calls.set(input.runId, input.memo);
        try {
          return await reenter(input, this.options);
        } finally {
          if (this.calls.get(input.runId) === input.memo) this.calls.delete(input.runId);
        }
      },
    };
    this.drivers.set(functionId, handle);
    return handle;
  };

  /** The memoized steps of the re-entry of `runId` in flight here, if there is one. */
  memoOf(runId: string): ReadonlyMap<string, Memo> | undefined {
    return this.calls.get(runId);
  }

  /** A run of `functionId` started, its SDK allowing `retries` (a node that never saw one uses the default). */
  started(functionId: string, retries: number | undefined) {
    if (retries === undefined || !Number.isInteger(retries) || retries < 0 || this.retries.get(functionId) === retries) return;
    this.retries.set(functionId, retries);
    this.drivers.delete(functionId);
  }
}

async function reenter(input: ExecutionInput, options: EndpointDriverOptions): Promise<ExecutionResult> {
  const data = (input.event.data ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof data[key] === "string" ? (data[key] as string) : "");
  let url: URL;
  try {
    url = new URL(`${text("domain")}${text("path") || "/"}${text("query_params") ? `?${text("query_params")}` : ""}`);
  } catch {
    return {
      type: "function-rejected",
      error: { name: "EndpointError", message: `run ${input.runId}: its request event names no valid endpoint URL` },
      retriable: false,
    };
  }
  if (options.allowedOrigins && !options.allowedOrigins.includes(url.origin)) {
    return {
      type: "function-rejected",
      error: {
        name: "EndpointError",
        message: `run ${input.runId}: ${url.origin} is not among the endpoint origins this server calls (--endpoint-origins / STEPWISE_ENDPOINT_ORIGINS)`,
      },
      retriable: false,
    };
  }
  const method = text("method").toUpperCase() || "POST";
  const body = method === "GET" || method === "HEAD" ? "" : text("body");
  const version = input.requestVersion ?? -1;
  const headers: Record<string, string> = {
    "x-run-id": input.runId,
    // the SDK treats a request as a call only when it is signed; in dev it does not check the signature
    "x-inngest-signature": options.signingKey ? signBody(body, options.signingKey) : "unsigned",
    "x-inngest-server-kind": options.serverKind,
    "x-inngest-req-version": String(version),
    "x-inngest-force-step-plan": String(input.disableImmediateExecution === true || input.targetStepId !== undefined),
    "x-request-id": randomUUID(),
  };
  if (input.targetStepId) headers["x-inngest-step-id"] = input.targetStepId;
  if (text("content_type")) headers["content-type"] = text("content_type");
  const where = `${url.origin}${url.pathname}`;
  const reply = await send(method, url, headers, body, options.timeoutMs ?? 5 * 60_000);
  if ("failure" in reply) return reply.answered ? transportError(`${where}: ${reply.failure}`) : unreachable(`calling ${where} ${reply.failure}`);
  return classifyReply(reply, where, input.now?.() ?? Date.now(), input.checkpoint);
}
