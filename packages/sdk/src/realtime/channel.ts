/**
 * @module realtime/channel
 * Typed channel and topic definitions, as `inngest/realtime`'s `channel()`:
 *
 * ```ts
 * const progress = channel({
 *   name: (orderId: string) => `order:${orderId}`,
 *   topics: { status: topic<{ state: string }>(), log: { schema: z.string() } },
 * });
 * await step.realtime.publish("p", progress("42").status, { state: "paid" });
 * ```
 *
 * A topic's config is `{ schema }` (any Standard Schema: checked on publish, and on
 * receipt by `subscribe`), `topic<T>()` (types only) or `{}` (untyped).
 */
import type { StandardSchemaV1 } from "../events/standard-schema.ts";

/** A topic's configuration: an optional Standard Schema for its data. */
export interface TopicConfig<T = unknown> {
  schema?: StandardSchemaV1<T, unknown>;
}

export type TopicsConfig = Record<string, TopicConfig>;

/** The data type a topic carries. */
export type InferTopicData<C> = C extends { schema: infer S extends StandardSchemaV1 } ? StandardSchemaV1.InferInput<S> : unknown;

/** A topic of a named channel: what `publish` takes. */
export interface TopicRef<TData = unknown> {
  channel: string;
  topic: string;
  config: TopicConfig;
  /** Types only (absent at runtime). */
  readonly "~data"?: TData;
}

export type TopicAccessors<TTopics extends TopicsConfig> = { readonly [K in string & keyof TTopics]: TopicRef<InferTopicData<TTopics[K]>> };

/** A channel with its name resolved. */
export type ChannelInstance<TName extends string = string, TTopics extends TopicsConfig = TopicsConfig> = {
  readonly name: TName;
  readonly topics: TTopics;
} & TopicAccessors<TTopics>;

/** A channel whose name depends on parameters (`progress(orderId)`). */
// biome-ignore lint/suspicious/noExplicitAny: any parameters
export type ChannelDef<TNameFn extends (...args: any[]) => string = (...args: any[]) => string, TTopics extends TopicsConfig = TopicsConfig> = ((
  ...args: Parameters<TNameFn>
) => ChannelInstance<ReturnType<TNameFn>, TTopics>) & { readonly topics: TTopics };

const reserved = new Set(["name", "topics", "$infer", "$params"]);

function checkTopics(topics: unknown, where: string): asserts topics is TopicsConfig {
  if (typeof topics !== "object" || topics === null || Array.isArray(topics)) throw new TypeError(`${where}: "topics" must be an object of topic configs`);
  for (const [name, config] of Object.entries(topics)) {
    if (reserved.has(name)) throw new TypeError(`${where}: a topic may not be named "${name}"`);
    if (typeof config !== "object" || config === null) throw new TypeError(`${where}: topic "${name}" must be a config object ({} or { schema })`);
    const schema = (config as TopicConfig).schema;
    if (schema !== undefined && typeof schema?.["~standard"]?.validate !== "function") {
      throw new TypeError(`${where}: the "schema" of topic "${name}" must be a Standard Schema (Zod, Valibot, ArkType, topic<T>())`);
    }
  }
}

function checkName(name: unknown, where: string): string {
  if (typeof name !== "string" || name === "") throw new TypeError(`${where}: the channel name must be a non-empty string, received ${JSON.stringify(name)}`);
  if (name.length > 256) throw new TypeError(`${where}: the channel name must be at most 256 characters`);
  return name;
}

function instance(name: string, topics: TopicsConfig): ChannelInstance {
  const out: Record<string, unknown> = { name, topics };
  for (const [topic, config] of Object.entries(topics)) out[topic] = { channel: name, topic, config };
  return out as ChannelInstance;
}

/** Defines a channel: a fixed name, or a function of parameters returning one. */
export function channel<const TName extends string, const TTopics extends TopicsConfig>(options: {
  name: TName;
  topics: TTopics;
}): ChannelInstance<TName, TTopics>;
// biome-ignore lint/suspicious/noExplicitAny: any parameters
export function channel<TNameFn extends (...args: any[]) => string, const TTopics extends TopicsConfig>(options: {
  name: TNameFn;
  topics: TTopics;
}): ChannelDef<TNameFn, TTopics>;
export function channel(options: { name: string | ((...args: unknown[]) => string); topics: TopicsConfig }): ChannelInstance | ChannelDef {
  const where = "channel()";
  if (!options || typeof options !== "object") throw new TypeError(`${where}: expected { name, topics }`);
  const { name, topics } = options;
  checkTopics(topics, where);
  if (typeof name === "function") {
    const def = (...args: unknown[]) => instance(checkName(name(...args), where), topics);
    Object.defineProperty(def, "topics", { value: topics, enumerable: true });
    return def as unknown as ChannelDef;
  }
  return instance(checkName(name, where), topics);
}

/**
 * A topic config: `topic<T>()` types the data as `T` without a runtime check;
 * `topic(schema)` checks it with a Standard Schema.
 */
export function topic<T>(): TopicConfig<T> & { schema: StandardSchemaV1<T, T> };
export function topic<S extends StandardSchemaV1>(schema: S): { schema: S };
export function topic(schema?: StandardSchemaV1): TopicConfig {
  if (schema !== undefined) {
    if (typeof schema?.["~standard"]?.validate !== "function") throw new TypeError("topic(schema): expected a Standard Schema (Zod, Valibot, ArkType)");
    return { schema };
  }
  return { schema: { "~standard": { version: 1, vendor: "stepwise", validate: (value) => ({ value }) } } };
}

/** Checks `data` against the topic's schema (if any); the validated value, or a TypeError naming the topic. */
export async function validateTopicData(ref: TopicRef, data: unknown, where: string): Promise<unknown> {
  const schema = ref?.config?.schema;
  if (!schema) return data;
  const result = await schema["~standard"].validate(data);
  if (result.issues) {
    const first = result.issues[0];
    const path = first?.path?.map((p) => (typeof p === "object" ? String(p.key) : String(p))).join(".");
    throw new TypeError(
      `${where}: data for topic "${ref.topic}" of channel "${ref.channel}" failed its schema${path ? ` at ${path}` : ""}: ${first?.message ?? "invalid"}`,
    );
  }
  return result.value;
}

/** The topic ref's channel and topic, checked (a plain `{ channel, topic }` is accepted too). */
export function readTopicRef(ref: unknown, where: string): TopicRef {
  const r = ref as TopicRef | undefined;
  if (!r || typeof r !== "object" || typeof r.channel !== "string" || r.channel === "" || typeof r.topic !== "string" || r.topic === "") {
    throw new TypeError(`${where}: the first argument must be a topic of a channel (channel("…").topicName), received ${JSON.stringify(ref)}`);
  }
  return { channel: r.channel, topic: r.topic, config: r.config ?? {} };
}
