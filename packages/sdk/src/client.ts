/**
 * @module client
 * The client users create functions with and send events through. It holds no engine:
 * `engine.register({ client })` binds `send` to an engine in this process; otherwise
 * `send` posts to a server over HTTP (a Stepwise server or Inngest's).
 */
import { type ClientHandle, consoleLogger, type EventSender, type Logger, type Trigger } from "@stepwise/protocol";
import { type Context, type FunctionOptions, StepwiseFunction } from "./function.ts";
import { type Connection, type ConnectionOptions, resolveConnection } from "./http/env.ts";
import { sendEvents } from "./http/send-events.ts";
import type { MiddlewareContext, MiddlewareStack } from "./middleware/index.ts";
import { type RegisteredMiddleware, registerMiddleware, sendWithMiddleware } from "./middleware/runtime.ts";

export interface ClientOptions<TMiddleware extends MiddlewareStack = MiddlewareStack> extends ConnectionOptions {
  /** The app id; function ids are prefixed with it (`<appId>-<functionId>`). */
  id: string;
  /** Where Stepwise and `ctx.logger` write. (Default: console, info and above.) */
  logger?: Logger;
  /**
   * Middleware run around every call of this client's functions and every send, in
   * order, before any per-function middleware. v3 `InngestMiddleware` instances and v4
   * middleware classes may be mixed. See docs/middleware.md.
   */
  middleware?: TMiddleware;
}

/** Event payload accepted by `send`. */
export interface SendPayload {
  name: string;
  data?: Record<string, unknown>;
  user?: Record<string, unknown>;
  id?: string;
  ts?: number;
  v?: string;
}

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
export class Stepwise<const TMiddleware extends MiddlewareStack = MiddlewareStack> implements ClientHandle {
  readonly id: string;
  readonly logger: Logger;
  /** @internal The client's middleware, initialized once. */
  readonly middleware: readonly RegisteredMiddleware[];
  private readonly connectionOptions: ConnectionOptions;
  private sender: EventSender | undefined;

  constructor(options: ClientOptions<TMiddleware>) {
    if (!options || typeof options.id !== "string" || options.id === "") {
      throw new TypeError(`new Stepwise({ id }): "id" must be a non-empty string, received ${JSON.stringify(options?.id)}`);
    }
    this.id = options.id;
    this.logger = options.logger ?? consoleLogger;
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
  createFunction<Data = Record<string, unknown>, const TFnMiddleware extends MiddlewareStack = []>(
    options: FunctionOptions<TFnMiddleware>,
    trigger: Trigger | Trigger[],
    handler: (ctx: Context<Data> & MiddlewareContext<TMiddleware> & MiddlewareContext<TFnMiddleware>) => unknown,
  ): StepwiseFunction<Data>;
  createFunction<Data = Record<string, unknown>, const TFnMiddleware extends MiddlewareStack = []>(
    options: FunctionOptions<TFnMiddleware>,
    handler: (ctx: Context<Data> & MiddlewareContext<TMiddleware> & MiddlewareContext<TFnMiddleware>) => unknown,
  ): StepwiseFunction<Data>;
  createFunction<Data = Record<string, unknown>>(
    options: FunctionOptions,
    triggerOrHandler: Trigger | Trigger[] | ((ctx: never) => unknown),
    maybeHandler?: (ctx: never) => unknown,
  ): StepwiseFunction<Data> {
    const handler = (typeof triggerOrHandler === "function" ? triggerOrHandler : maybeHandler) as ((ctx: Context<Data>) => unknown) | undefined;
    if (typeof handler !== "function") throw new TypeError(`createFunction("${options?.id}"): a handler function is required`);
    const raw = typeof triggerOrHandler === "function" ? options.triggers : triggerOrHandler;
    const triggers = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    return new StepwiseFunction<Data>(this, options, triggers, handler);
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
  send(payload: SendPayload | SendPayload[]): Promise<{ ids: string[] }> {
    if (this.middleware.length === 0) return this.deliver(payload);
    return sendWithMiddleware(this.middleware, this, null, payload, (payloads) => this.deliver(payloads));
  }

  /** @internal Sends without running middleware (callers have run it). */
  deliver(payload: unknown): Promise<{ ids: string[] }> {
    if (this.sender) return this.sender(payload);
    try {
      return sendEvents(this.connection(), payload, { appId: this.id });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal Called by an engine or server to route `send`. */
  bindSender(sender: EventSender | undefined): void {
    this.sender = sender;
  }
}

export { Stepwise as Inngest };
