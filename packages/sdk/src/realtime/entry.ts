/**
 * @module realtime/entry
 * `stepwise/realtime` (and `@stepwise/sdk/realtime`): what `inngest/realtime` exports —
 * `channel`, `topic`, `realtime`, `getSubscriptionToken`, `subscribe` — with nothing
 * Node-only, so a browser bundle can import it to subscribe with a token its server
 * handed it.
 */
import { channel } from "./channel.ts";

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
export {
  type ChannelInput,
  getSubscriptionToken,
  type Message,
  type RealtimeClientLink,
  type Subscription,
  type SubscriptionToken,
  subscribe,
  type TokenMessage,
} from "./subscribe.ts";

/** `realtime.channel`, as the official SDK exports it. */
export const realtime = { channel };
