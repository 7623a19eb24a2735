/**
 * @module client
 * The client users create functions with and send events through. It holds no engine:
 * `engine.register({ client })` binds `send` to an engine in this process; otherwise
 * `send` posts to a server over HTTP (a Stepwise server or Inngest's).
 */

import { type ClientHandle, consoleLogger, type EventSender, type Logger, type MetadataWriter, type Trigger } from "@stepwise/protocol";
import { isEventType } from "./events/event-type.ts";
import type { AnyEventSchemas, EventsOf } from "./events/schemas.ts";
import type { StandardSchemaV1 } from "./events/standard-schema.ts";
import type { FunctionEvent, SendPayloadOf, TriggersInput, UntypedEvents, UntypedSendPayload } from "./events/types.ts";
import { validateOutgoingEvents } from "./events/validate.ts";
import { type Context, type FunctionOptions, StepwiseFunction } from "./function.ts";
import { callApi } from "./http/api.ts";
import { type Connection, type ConnectionOptions, resolveConnection } from "./http/env.ts";
import { sendEvents } from "./http/send-events.ts";
import type { MiddlewareContext, MiddlewareStack } from "./middleware/index.ts";
import { type RegisteredMiddleware, registerMiddleware, sendWithMiddleware } from "./middleware/runtime.ts";
import { createClientMetadata, type MetadataBuilder, type ScoreOptions } from "./step/metadata.ts";
import { stampFromHandler } from "./step/sessions.ts";

export interface ClientOptions<Schemas extends AnyEventSchemas | undefined = AnyEventSchemas | undefined, TMiddleware extends MiddlewareStack = MiddlewareStack>
  extends ConnectionOptions {
  /** The app id; function ids are prefixed with it (`<appId>-<functionId>`). */
  id: string;
  /** Where Stepwise and `ctx.logger` write. (Default: console, info and above.) */
  logger?: Logger;
  /**
   * Inngest v3's event types: `new EventSchemas().fromRecord<...>()` and the like. With
   * them, handlers' events are typed and `send` takes only known events (types only).
   */
  schemas?: Schemas;
  /**
   * Middleware run around every call of this client's functions and every send, in
   * order, before any per-function middleware. v3 `InngestMiddleware` instances and v4
   * middleware classes may be mixed. See docs/middleware.md.
   */
  middleware?: TMiddleware;
}

/** Event payload accepted by `send` on a client without schemas. */
export type SendPayload = UntypedSendPayload;

/** The event map of a client's schemas (every name, untyped, without schemas). */
export type ClientEvents<Schemas> = Schemas extends AnyEventSchemas ? EventsOf<Schemas> : UntypedEvents;

/** Any client, with or without schemas (Inngest's `Inngest.Any`). */
// biome-ignore lint/suspicious/noExplicitAny: any schemas
export type AnyStepwise = Stepwise<any, any>;

/** The event map of a client. */
// biome-ignore lint/suspicious/noExplicitAny: any middleware
export type EventsOfClient<C> = C extends Stepwise<infer S, any> ? ClientEvents<S> : UntypedEvents;

/**
 * The Stepwise client. `Inngest` is the same class, so code written for Inngest runs by
 * changing only the import.
 *
 * @example
 * const client = new Stepwise({ id: "shop" });
 * const hello = client.createFunction({ id: "hello" }, { event: "app/hello" }, async ({ event, step }) => {
 *   return step.run("greet", () => `hi ${event.data.name}`);
 * });
 */
export class Stepwise<Schemas extends AnyEventSchemas | undefined = undefined, const TMiddleware extends MiddlewareStack = MiddlewareStack>
  implements ClientHandle
{
  readonly id: string;
  readonly logger: Logger;
  /** The `schemas` option (types only). */
  readonly schemas: AnyEventSchemas | undefined;
  /** @internal Schemas of the event types this client's functions are triggered by; `send` checks them. */
  readonly eventSchemas = new Map<string, StandardSchemaV1[]>();
  /** @internal The client's middleware, initialized once. */
  readonly middleware: readonly RegisteredMiddleware[];
  private readonly connectionOptions: ConnectionOptions;
  private sender: EventSender | undefined;
  private metadataWriter: MetadataWriter | undefined;
  private readonly metadataTools = createClientMetadata(() => this.metadataWriter ?? ((runId, updates, target) => this.postMetadata(runId, updates, target)));

  constructor(options: ClientOptions<Schemas, TMiddleware>) {
    if (!options || typeof options.id !== "string" || options.id === "") {
      throw new TypeError(`new Stepwise({ id }): "id" must be a non-empty string, received ${JSON.stringify(options?.id)}`);
    }
    this.id = options.id;
    this.logger = options.logger ?? consoleLogger;
    this.schemas = options.schemas;
    const { isDev, baseUrl, eventKey, signingKey, signingKeyFallback } = options;
    this.connectionOptions = { isDev, baseUrl, eventKey, signingKey, signingKeyFallback };
    this.middleware = registerMiddleware(options.middleware, this, null, "new Stepwise({ middleware })");
  }

  /**
   * Mode, server URLs and keys: the client's options, then the `INNGEST_*` environment
   * variables (read on each call), then the defaults.
   */
  connection(overrides: ConnectionOptions = {}): Connection {
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
    return resolveConnection({ ...this.connectionOptions, ...defined });
  }

  /**
   * Defines a function: `createFunction(options, trigger | trigger[], handler)` (Inngest v3
   * style) or `createFunction({ ...options, triggers }, handler)` (v4 style). Throws a
   * `StepwiseError("invalid_config")` naming the field when the options are invalid.
   */
  createFunction<const T extends TriggersInput<ClientEvents<Schemas>>, R, const TFnMiddleware extends MiddlewareStack = []>(
    options: FunctionOptions<FunctionEvent<ClientEvents<Schemas>, T>, ClientEvents<Schemas>, never, TFnMiddleware>,
    trigger: T,
    handler: (
      ctx: Context<FunctionEvent<ClientEvents<Schemas>, T>, ClientEvents<Schemas>> & MiddlewareContext<TMiddleware> & MiddlewareContext<TFnMiddleware>,
    ) => R,
  ): StepwiseFunction<FunctionEvent<ClientEvents<Schemas>, T>, R>;
  createFunction<const T extends TriggersInput<ClientEvents<Schemas>> | undefined = undefined, R = unknown, const TFnMiddleware extends MiddlewareStack = []>(
    options: FunctionOptions<FunctionEvent<ClientEvents<Schemas>, T>, ClientEvents<Schemas>, T, TFnMiddleware>,
    handler: (
      ctx: Context<FunctionEvent<ClientEvents<Schemas>, T>, ClientEvents<Schemas>> & MiddlewareContext<TMiddleware> & MiddlewareContext<TFnMiddleware>,
    ) => R,
  ): StepwiseFunction<FunctionEvent<ClientEvents<Schemas>, T>, R>;
  createFunction(
    // biome-ignore lint/suspicious/noExplicitAny: the overloads type it
    options: FunctionOptions<any, any, any, any>,
    triggerOrHandler: unknown,
    maybeHandler?: (ctx: never) => unknown,
  ): StepwiseFunction {
    const handler = typeof triggerOrHandler === "function" ? triggerOrHandler : maybeHandler;
    if (typeof handler !== "function") throw new TypeError(`createFunction("${options?.id}"): a handler function is required`);
    const raw = typeof triggerOrHandler === "function" ? options.triggers : triggerOrHandler;
    const list: unknown[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    const { triggers, schemas } = readTriggers(list);
    for (const [name, list] of schemas) this.eventSchemas.set(name, [...(this.eventSchemas.get(name) ?? []), ...list]);
    return new StepwiseFunction(this, options, triggers, handler as (ctx: Context) => unknown, schemas);
  }

  /**
   * Sends one event or an array (≤ 5,000) and returns their ids. The whole call is
   * validated first: a bad event rejects it with a message naming the index and field,
   * and nothing is stored.
   *
   * Where events go: to the engine this client is registered with in this process
   * (`engine.register({ client })`), if any; otherwise over HTTP to
   * `POST {baseUrl}/e/{eventKey}`. In dev mode (`isDev` or `INNGEST_DEV=1`) the base
   * defaults to `http://localhost:8288` and the key to `NO_EVENT_KEY_SET`; in cloud mode
   * an event key is required (`eventKey` or `INNGEST_EVENT_KEY`). HTTP sends are retried
   * on network errors and 5xx replies (5 attempts with backoff).
   *
   * The client's middleware (`onSendEvent`, `transformSendEvent`, `wrapSendEvent`) runs
   * around the send: its payload transforms apply before validation and storage.
   */
  send(events: SendPayloadOf<ClientEvents<Schemas>> | readonly SendPayloadOf<ClientEvents<Schemas>>[]): Promise<{ ids: string[] }> {
    // sent while a handler runs: the run's sessions are inherited (docs/step-tools.md)
    const payload = stampFromHandler(events);
    if (this.middleware.length === 0) return this.deliver(payload);
    return sendWithMiddleware(this.middleware, this, null, payload, (payloads) => this.deliver(payloads));
  }

  /** @internal Sends without running middleware (callers have run it); validates against the trigger schemas. */
  deliver(payload: unknown): Promise<{ ids: string[] }> {
    return validateOutgoingEvents(payload, this.eventSchemas).then(() => {
      if (this.sender) return this.sender(payload);
      return sendEvents(this.connection(), payload, { appId: this.id });
    });
  }

  /**
   * Resumes the run waiting on `signal` (`step.waitForSignal`) with `data`, through the
   * server's API (`POST /v1/signals`). Resolves with its run id; `runId` is undefined
   * when no run waits on the signal.
   */
  async sendSignal(options: { signal: string; data?: unknown }): Promise<{ runId: string | undefined }> {
    if (!options || typeof options.signal !== "string" || options.signal === "") throw new TypeError('sendSignal: "signal" must be a non-empty string');
    const response = await callApi(this.connection(), {
      method: "POST",
      path: "/v1/signals",
      body: JSON.stringify({ signal: options.signal, data: options.data ?? null }),
    });
    if (response.status === 404) return { runId: undefined };
    if (!response.ok) throw new Error(`sendSignal: POST /v1/signals answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    const body = (await response.json()) as { data?: { run_id?: string } };
    return { runId: body.data?.run_id };
  }

  /** @internal Called by an engine or server to route `send`. */
  bindSender(sender: EventSender | undefined): void {
    this.sender = sender;
  }

  bindMetadataWriter(writer: MetadataWriter | undefined): void {
    this.metadataWriter = writer;
  }

  /**
   * Run and step metadata: inside a `step.run` callback `client.metadata.set(values, kind?)`
   * goes with the step's result; elsewhere name the run, `client.metadata.run(runId).set(...)`.
   */
  get metadata(): MetadataBuilder {
    return this.metadataTools.metadata;
  }

  /**
   * Scores a run (or, with `stepId`, one of its steps): `{ name, value, runId? }`, a finite
   * number or a boolean. Inside a `step.run` callback it scores the current run with the
   * step's result; elsewhere it writes at once (`runId` required).
   */
  score(options: ScoreOptions): Promise<void> {
    return this.metadataTools.score(options);
  }

  private async postMetadata(runId: string, updates: unknown[], target: Record<string, unknown>): Promise<void> {
    const response = await callApi(this.connection(), {
      method: "POST",
      path: `/v1/runs/${encodeURIComponent(runId)}/metadata`,
      body: JSON.stringify({ target: { ...target, run_id: runId }, metadata: updates }),
    });
    if (!response.ok) throw new Error(`score/metadata: POST /v1/runs/${runId}/metadata answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
}

/**
 * Plain triggers for the function config, and the schemas of `EventType` triggers by
 * event name (an `EventType` stands for `{ event: name }`, as `{ event: EventType }` does).
 */
function readTriggers(list: unknown[]): { triggers: Trigger[]; schemas: Map<string, StandardSchemaV1[]> } {
  const schemas = new Map<string, StandardSchemaV1[]>();
  const add = (name: string, schema: StandardSchemaV1) => schemas.set(name, [...(schemas.get(name) ?? []), schema]);
  const triggers = list.map((item): Trigger => {
    const type = isEventType(item) ? item : isEventType((item as { event?: unknown } | null)?.event) ? (item as { event: unknown }).event : undefined;
    if (!isEventType(type)) {
      // v4's `{ event: "name", schema }`: the schema is kept here, not in the config.
      const { schema, ...trigger } = (item ?? {}) as { event?: unknown; schema?: StandardSchemaV1 };
      if (schema === undefined || typeof trigger.event !== "string") return item as Trigger;
      if (typeof schema?.["~standard"]?.validate !== "function") {
        throw new TypeError(`createFunction: the "schema" of trigger "${trigger.event}" must be a Standard Schema (Zod, Valibot, ArkType, staticSchema())`);
      }
      add(trigger.event, schema);
      return trigger as Trigger;
    }
    if (type.schema) add(type.name, type.schema);
    const condition = type === item ? undefined : (item as { if?: string }).if;
    return condition === undefined ? { event: type.name } : { event: type.name, if: condition };
  });
  return { triggers, schemas };
}

export { Stepwise as Inngest };
