/**
 * @module realtime
 * Realtime publish/subscribe, the API of `inngest/realtime` (docs/realtime.md):
 * `channel`/`topic` definitions, `client.realtime.publish` (not durable),
 * `step.realtime.publish` (a memoized step), `getSubscriptionToken` and `subscribe`.
 */
import type { RealtimeBus } from "@stepwise/protocol";
import { callApi } from "../http/api.ts";
import type { Connection } from "../http/env.ts";
import type { TopicRef } from "./channel.ts";
import { channel } from "./channel.ts";
import { publishTo } from "./publish.ts";
import { currentRunContext } from "./run-context.ts";
import {
  type ChannelInput,
  getSubscriptionToken,
  type RealtimeClientLink,
  type Subscription,
  type SubscriptionToken,
  subscribe,
  type TokenMessage,
} from "./subscribe.ts";

export {
  type ChannelDef,
  type ChannelInstance,
  channel,
  type InferTopicData,
  type TopicConfig,
  type TopicRef,
  type TopicsConfig,
  topic,
} from "./channel.ts";
export { type ChannelInput, getSubscriptionToken, type Message, type Subscription, type SubscriptionToken, subscribe, type TokenMessage } from "./subscribe.ts";

/** `realtime.channel`, as the official SDK exports it. */
export const realtime = { channel };

/** `client.realtime`: publish (not durable), and tokens and subscriptions through this client. */
export interface ClientRealtime {
  /** Publishes `data` to a topic now (not durable: a retried step publishes again; use `step.realtime.publish` for once). */
  publish<TData>(topic: TopicRef<TData>, data: NoInfer<TData>): Promise<void>;
  /** `getSubscriptionToken(client, options)`. */
  token<const C extends ChannelInput, const T extends string[]>(options: { channel: C; topics: T }): Promise<SubscriptionToken<C, T>>;
  /** `subscribe` with a token got through this client. */
  subscribe<const C extends ChannelInput, const T extends string[]>(
    options: { channel: C; topics: T; validate?: boolean },
    callback?: (message: TokenMessage<SubscriptionToken<C, T>>) => void | Promise<void>,
  ): Promise<Subscription<TokenMessage<SubscriptionToken<C, T>>>>;
}

/** The client side of realtime, for `Stepwise`: a bound engine's bus, else the server of `connection()`. */
export function createClientRealtime(link: { connection(): Connection; realtimeBus(): RealtimeBus | undefined }): ClientRealtime {
  const clientLink: RealtimeClientLink = {
    realtimeBus: () => link.realtimeBus(),
    requestSubscriptionKey: (channel, topics) => requestSubscriptionKey(link.connection(), channel, topics),
  };
  return {
    async publish(topic: TopicRef, data: unknown) {
      // inside a handler: the run's id on the message, and the call's bus
      const run = currentRunContext();
      await publishTo({ bus: run?.bus ?? link.realtimeBus(), connection: () => link.connection() }, topic, data, "realtime.publish", run?.runId);
    },
    token(options) {
      // biome-ignore lint/suspicious/noExplicitAny: the overload types it
      return getSubscriptionToken(clientLink, options as any) as never;
    },
    async subscribe(options, callback) {
      // biome-ignore lint/suspicious/noExplicitAny: the overload types it
      const token = await getSubscriptionToken(clientLink, options as any);
      return subscribe({ ...token, app: clientLink, ...(options.validate === false ? { validate: false } : {}) }, callback as never) as never;
    },
  } as ClientRealtime;
}

/** `POST /v1/realtime/token` with the client's signing key: a short-lived key for `channel`'s `topics`. */
export async function requestSubscriptionKey(connection: Connection, channel: string, topics: string[]): Promise<{ key: string; apiBaseUrl: string }> {
  const response = await callApi(connection, {
    method: "POST",
    path: "/v1/realtime/token",
    body: JSON.stringify(topics.map((topic) => ({ channel, name: topic, kind: "run" }))),
  });
  if (!response.ok) throw new Error(`getSubscriptionToken: POST /v1/realtime/token answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const { jwt } = (await response.json()) as { jwt?: unknown };
  if (typeof jwt !== "string") throw new Error("getSubscriptionToken: the server answered without a token");
  return { key: jwt, apiBaseUrl: connection.apiBaseUrl };
}
