/**
 * @module realtime/subscribe
 * `getSubscriptionToken` and `subscribe`, as `inngest/realtime` has them.
 *
 * - In-process (the client is registered with an engine in this process): the token
 *   needs no key and `subscribe` listens on the engine's realtime bus directly.
 * - Served: `getSubscriptionToken` asks the server (`POST /v1/realtime/token`, with the
 *   client's signing key) for a short-lived key scoped to the channel and topics; hand
 *   the token to a browser and `subscribe` there. `subscribe` reads
 *   `GET /v1/realtime/sse` with the key as a bearer (never in the URL) — it needs only
 *   `fetch`, so it runs in browsers and on Node 20 alike.
 */
import type { RealtimeBus, RealtimeMessage } from "@stepwise/protocol";
import type { ChannelDef, InferTopicData, TopicConfig, TopicsConfig } from "./channel.ts";

/** What can be subscribed to: a channel (with its topics' types) or a channel name. */
export type ChannelInput = string | { readonly name: string; readonly topics: TopicsConfig };

type TopicsOf<C> = C extends { readonly topics: infer T } ? T : Record<string, unknown>;
type NameOf<C> = C extends { readonly name: infer N extends string } ? N : C extends string ? C : string;
type TopicNames<C> = C extends { readonly topics: infer T } ? string & keyof T : string;

/** A message as subscribers receive it. */
export type Message<TChannel extends string = string, TTopics = Record<string, unknown>, TSelected extends string = string & keyof TTopics> = {
  [K in TSelected]: {
    kind: "data";
    channel: TChannel;
    topic: K;
    data: K extends keyof TTopics ? InferTopicData<TTopics[K]> : unknown;
    runId?: string;
    fnId?: string;
    createdAt: Date;
  };
}[TSelected];

/** A subscription token: the channel and topics, and (served) the server's key for them. */
export interface SubscriptionToken<TChannel extends ChannelInput = ChannelInput, TTopics extends string[] = string[]> {
  channel: TChannel;
  topics: TTopics;
  /** The server's subscription key (served). Short-lived: subscribe soon after getting it. */
  key?: string;
  /** The server to subscribe at (served). */
  apiBaseUrl?: string;
}

/** The messages a token subscribes to. */
export type TokenMessage<T extends SubscriptionToken> =
  T extends SubscriptionToken<infer C, infer S> ? Message<NameOf<C>, TopicsOf<C>, S[number] & TopicNames<C>> : Message;

/** A subscription: a stream of messages, closed with `close()` (or `unsubscribe()`). */
export type Subscription<TMessage> = ReadableStream<TMessage> & {
  close(reason?: string): void;
  unsubscribe(reason?: string): void;
};

/** What `getSubscriptionToken` and `subscribe({ app })` need of a client: its bus (in-process), or a way to request a key. */
export interface RealtimeClientLink {
  /** @internal The bus of the engine this client is registered with, if any. */
  realtimeBus(): RealtimeBus | undefined;
  /** @internal Asks the client's server for a subscription key (served). */
  requestSubscriptionKey(channel: string, topics: string[]): Promise<{ key: string; apiBaseUrl: string }>;
}

const busOf = new WeakMap<object, RealtimeBus>();

function channelName(channel: ChannelInput | ChannelDef | undefined, where: string): string {
  const name = typeof channel === "string" ? channel : (channel as { name?: unknown } | undefined)?.name;
  if (typeof channel === "function") throw new TypeError(`${where}: "channel" is a channel definition with parameters; call it (progress("42"))`);
  if (typeof name !== "string" || name === "") throw new TypeError(`${where}: "channel" must be a channel or a non-empty channel name`);
  return name;
}

function topicList(topics: unknown, where: string): string[] {
  if (!Array.isArray(topics) || topics.length === 0 || !topics.every((t) => typeof t === "string" && t !== "")) {
    throw new TypeError(`${where}: "topics" must be a non-empty array of topic names`);
  }
  return topics as string[];
}

/** Gets a token to subscribe to `topics` of `channel` (see the module doc for in-process and served). */
export async function getSubscriptionToken<const C extends ChannelInput, const T extends (string & TopicNames<C>)[]>(
  client: RealtimeClientLink,
  args: { channel: C; topics: T },
): Promise<SubscriptionToken<C, T>> {
  const where = "getSubscriptionToken";
  const name = channelName(args?.channel, where);
  const topics = topicList(args?.topics, where);
  if (typeof client?.realtimeBus !== "function") throw new TypeError(`${where}: the first argument must be a Stepwise (Inngest) client`);
  const bus = client.realtimeBus();
  if (bus) {
    const token: SubscriptionToken<C, T> = { channel: args.channel, topics: args.topics };
    busOf.set(token, bus);
    return token;
  }
  const { key, apiBaseUrl } = await client.requestSubscriptionKey(name, topics);
  return { channel: args.channel, topics: args.topics, key, apiBaseUrl };
}

function schemaOf(channel: ChannelInput, topic: string) {
  return typeof channel === "string" ? undefined : (channel.topics?.[topic] as TopicConfig | undefined)?.schema;
}

function toMessage(raw: RealtimeMessage): Message {
  return {
    kind: "data",
    channel: raw.channel,
    topic: raw.topic,
    data: raw.data,
    ...(raw.runId ? { runId: raw.runId } : {}),
    ...(raw.fnId ? { fnId: raw.fnId } : {}),
    createdAt: new Date(raw.createdAt),
  };
}

/**
 * Subscribes with a token (from `getSubscriptionToken`), or with `{ app: client, channel,
 * topics }` (the token is got through the client). Resolves once subscribed: every
 * message published from then on arrives, in order. With `callback`, each message is
 * passed to it and the result only closes; otherwise read the stream. A topic's schema
 * (when the token's channel has one) is checked on receipt: a message that fails it is
 * dropped, as the official client does, unless `validate: false`.
 */
export async function subscribe<const T extends SubscriptionToken>(
  token: T & { validate?: boolean; app?: RealtimeClientLink },
  callback?: (message: TokenMessage<T>) => void | Promise<void>,
): Promise<Subscription<TokenMessage<T>>> {
  const where = "subscribe";
  const name = channelName(token?.channel, where);
  const topics = new Set(topicList(token?.topics, where));
  const validate = token.validate !== false;
  let controller!: ReadableStreamDefaultController<TokenMessage<T>>;
  let closeSource: () => void = () => {};
  let closed = false;
  const stream = new ReadableStream<TokenMessage<T>>({
    start(c) {
      controller = c;
    },
    cancel() {
      close();
    },
  });
  const close = () => {
    if (closed) return;
    closed = true;
    closeSource();
    try {
      controller.close();
    } catch {
      // already closed
    }
  };
  // messages are handed on in order, each after its schema check
  let chain = Promise.resolve();
  const push = (raw: RealtimeMessage) => {
    if (raw.channel !== name || !topics.has(raw.topic)) return;
    chain = chain.then(async () => {
      if (closed) return;
      const message = toMessage(raw);
      const schema = validate ? schemaOf(token.channel, raw.topic) : undefined;
      if (schema) {
        const result = await schema["~standard"].validate(message.data);
        if (result.issues) return;
        message.data = result.value;
      }
      if (!closed) controller.enqueue(message as TokenMessage<T>);
    });
  };
  const bus = busOf.get(token) ?? token.app?.realtimeBus();
  if (bus) closeSource = bus.subscribe(name, push);
  else {
    // no key yet: get one through the client given as `app`
    const keyed = token.key || !token.app ? token : await getSubscriptionToken(token.app, { channel: token.channel, topics: token.topics as string[] });
    closeSource = await openStream(keyed, push, () => close());
  }
  const subscription = Object.assign(stream, { close, unsubscribe: close }) as Subscription<TokenMessage<T>>;
  if (callback) {
    const reader = stream.getReader();
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        try {
          await callback(value);
        } catch (error) {
          console.error("stepwise: a realtime subscription callback failed:", error);
        }
      }
    })();
  }
  return subscription;
}

/** Opens `GET /v1/realtime/sse`; resolves once the server has subscribed (its `ready` event). */
async function openStream(token: SubscriptionToken, push: (message: RealtimeMessage) => void, ended: () => void): Promise<() => void> {
  const where = "subscribe";
  if (!token.key) {
    throw new Error(
      `${where}: the token has no key: get it with getSubscriptionToken from a client connected to a Stepwise server (or registered with an engine in this process)`,
    );
  }
  if (!token.apiBaseUrl) throw new Error(`${where}: the token has no apiBaseUrl (the server to subscribe at)`);
  const abort = new AbortController();
  const response = await fetch(new URL("/v1/realtime/sse", token.apiBaseUrl), {
    headers: { authorization: `Bearer ${token.key}`, accept: "text/event-stream" },
    signal: abort.signal,
  });
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => "");
    throw new Error(`${where}: GET /v1/realtime/sse answered ${response.status}: ${text.slice(0, 300)}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let resolveReady!: () => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (event === "ready") resolveReady();
          if (event !== "message" || data.length === 0) continue;
          const frame = JSON.parse(data.join("\n")) as Record<string, unknown>;
          if (frame.kind !== "data" || typeof frame.channel !== "string" || typeof frame.topic !== "string") continue;
          push({
            channel: frame.channel,
            topic: frame.topic,
            data: frame.data,
            ...(typeof frame.run_id === "string" ? { runId: frame.run_id } : {}),
            ...(typeof frame.fn_id === "string" ? { fnId: frame.fn_id } : {}),
            createdAt: typeof frame.created_at === "string" ? Date.parse(frame.created_at) : Date.now(),
          });
        }
      }
    } catch {
      // aborted or the connection dropped
    }
    rejectReady(new Error(`${where}: the server closed the subscription before it was ready`));
    ended();
  })();
  await ready;
  return () => abort.abort();
}

/** @internal For a client bound to an engine: the bus behind an in-process token. */
export function tokenBus(token: object): RealtimeBus | undefined {
  return busOf.get(token);
}
