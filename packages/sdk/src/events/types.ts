/**
 * @module events/types
 * How typed events flow: a client's event map (from `EventSchemas`, or untyped), the
 * event a handler receives for its triggers, and what `send`, `step.sendEvent`,
 * `step.waitForEvent` and `step.invoke` accept and return.
 *
 * The types avoid recursion: every step is a mapped type or a distributive conditional,
 * so a client with hundreds of events stays far from TypeScript's instantiation limits.
 */
import type { EventMeta } from "@stepwise/protocol";
import type { AnyEventType, EventType, SchemaData } from "./event-type.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";

// biome-ignore lint/suspicious/noExplicitAny: Inngest types untyped event data as Record<string, any>
export type AnyData = Record<string, any>;

/** One entry of an event map: the event's name, data and user. */
export interface EventShape {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: any event's data
  data: any;
  // biome-ignore lint/suspicious/noExplicitAny: any event's user
  user?: any;
}

/** Event name → its shape. */
export type EventMap = { [name: string]: EventShape };

/** The event map of a client without schemas: every name, data `Record<string, any>`. */
export type UntypedEvents = { [name: string]: { name: string; data: AnyData; user?: AnyData } };

/** True when `E` has literal names (the client has schemas). */
export type IsTyped<E> = string extends keyof E ? false : true;

/** An event as a handler (or `waitForEvent`) receives it. */
export interface ReceivedEvent<Name extends string = string, Data = AnyData> {
  /** The sender's `id` when given, otherwise the internal id. */
  id: string;
  name: Name;
  data: Data;
  user: AnyData;
  /** Unix ms. */
  ts: number;
  v?: string;
  /** The event's `meta` as sent (sessions), when it had one. */
  meta?: EventMeta;
}

type ToReceived<S> = S extends EventShape ? ReceivedEvent<S["name"], S["data"]> : never;

type WildcardMatches<E, Prefix extends string> = { [K in keyof E]: K extends `${Prefix}${string}` ? E[K] : never }[keyof E];

/** The event named `N` (a literal name, or a wildcard such as `"app/user.*"`). */
export type NamedEvent<E, N extends string> = N extends `${infer Prefix}*`
  ? IsTyped<E> extends true
    ? [WildcardMatches<E, Prefix>] extends [never]
      ? ReceivedEvent<string, AnyData>
      : ToReceived<WildcardMatches<E, Prefix>>
    : ReceivedEvent<string, AnyData>
  : IsTyped<E> extends true
    ? N extends keyof E
      ? ToReceived<E[N]>
      : ReceivedEvent<N, AnyData>
    : ReceivedEvent<N, AnyData>;

/** Names a trigger may use: the client's known names or a wildcard (anything when untyped). */
export type TriggerName<E> = IsTyped<E> extends true ? (keyof E & string) | `${string}*` : string;

/**
 * What one trigger may be: `{ event: name, if?, schema? }` (a v4 `schema` types and
 * checks the event as an `eventType` does), `{ cron }`, an `EventType`, or `{ event: EventType, if? }`.
 */
export type TriggerInput<E> =
  | { event: TriggerName<E>; if?: string; schema?: StandardSchemaV1<Record<string, unknown>> }
  | { cron: string }
  | AnyEventType
  | { event: AnyEventType; if?: string };

/** One trigger or several. */
export type TriggersInput<E> = TriggerInput<E> | readonly TriggerInput<E>[];

/** The cron trigger's event. */
export type CronEvent = ReceivedEvent<"inngest/scheduled.timer", { cron: string }>;

type TriggerEvent<E, T> = T extends { cron: string }
  ? CronEvent
  : T extends EventType<infer N, infer S>
    ? ReceivedEvent<N, SchemaData<S>>
    : T extends { event: EventType<infer N, infer S> }
      ? ReceivedEvent<N, SchemaData<S>>
      : T extends { event: infer N extends string; schema: infer S }
        ? ReceivedEvent<N, SchemaData<S>>
        : T extends { event: infer N extends string }
          ? NamedEvent<E, N>
          : never;

/**
 * The event a function receives for its triggers: the union over every trigger
 * (`Record<string, any>` data with no trigger, e.g. a function only invoked).
 */
export type FunctionEvent<E, T> = [T] extends [undefined]
  ? ReceivedEvent<string, AnyData>
  : T extends readonly (infer U)[]
    ? [U] extends [never]
      ? ReceivedEvent<string, AnyData>
      : TriggerEvent<E, U>
    : TriggerEvent<E, T>;

/** Fields of an event to send besides name and data. */
export interface SendFields {
  user?: AnyData;
  /** Idempotency key: a second event with the same id within 24 h triggers nothing. */
  id?: string;
  /** Unix ms; defaults to the time the event is received. */
  ts?: number;
  v?: string;
  /** Sessions (`{ sessions: { key: id } }`, a `null` id cuts an inherited one) and other event metadata, stored as sent. */
  meta?: EventMeta;
}

/** An event `send` accepts on a client without schemas. */
export interface UntypedSendPayload extends SendFields {
  name: string;
  data?: AnyData;
}

type DataField<D> = Record<never, never> extends D ? { data?: D } : { data: D };

/** An event `send` / `step.sendEvent` accepts: a known name with its data (any event when untyped). */
export type SendPayloadOf<E> =
  IsTyped<E> extends true
    ? { [K in keyof E & string]: { name: K } & DataField<E[K] extends { data: infer D } ? D : AnyData> & SendFields }[keyof E & string]
    : UntypedSendPayload;

/** The `event` option of `waitForEvent`: a known name or an `EventType`. */
export type WaitEventName<E> = (IsTyped<E> extends true ? keyof E & string : string) | AnyEventType;

/** What `waitForEvent` resolves to for the awaited `event` and optional `schema` (before `| null`). */
export type WaitForEventResult<E, Event, Schema = undefined> =
  Event extends EventType<infer N, infer S>
    ? ReceivedEvent<N, SchemaData<S>>
    : Event extends string
      ? [Schema] extends [StandardSchemaV1]
        ? ReceivedEvent<Event, SchemaData<Schema>>
        : NamedEvent<E, Event>
      : ReceivedEvent<string, AnyData>;
