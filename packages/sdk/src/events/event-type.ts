/**
 * @module events/event-type
 * Inngest v4's typed events: `eventType(name, { schema, version })` is a trigger
 * (`triggers: [userSignup]`), a factory of events to send (`userSignup.create(data)`),
 * and, when its schema validates at runtime, a check on send and on receive.
 */
import type { StandardSchemaV1 } from "./standard-schema.ts";
import type { AnyData } from "./types.ts";
import { eventSchemaSymbol, validateData } from "./validate.ts";

/** What `create` accepts besides data. */
export interface CreateEventOptions {
  id?: string;
  ts?: number;
  v?: string;
}

/** An event made by `EventType.create`, ready for `send` / `step.sendEvent`. */
export interface CreatedEvent<Name extends string, Data> {
  name: Name;
  data: Data;
  id?: string;
  ts?: number;
  v?: string;
  /** Checks `data` against the event type's schema; rejects with an `EventValidationError` naming the field. */
  validate(): Promise<void>;
}

/** The data type a schema describes (`Record<string, any>` without a schema, as Inngest). */
export type SchemaData<Schema> = Schema extends StandardSchemaV1<infer Data> ? Data : AnyData;

type CreateArgs<Schema> =
  Schema extends StandardSchemaV1<infer Data> ? [data: Data, options?: CreateEventOptions] : [data?: AnyData, options?: CreateEventOptions];

/** Refuses schemas whose input and output differ (transforms), as Inngest does. */
type NoTransform<Schema> = Schema extends undefined
  ? undefined
  : Schema extends StandardSchemaV1<infer I, infer O>
    ? [I] extends [O]
      ? Schema
      : "Transforms not supported: schema input/output types must match"
    : never;

export class EventType<
  Name extends string = string,
  Schema extends StandardSchemaV1<Record<string, unknown>> | undefined = StandardSchemaV1<Record<string, unknown>> | undefined,
> {
  /** The same as `name`: lets an `EventType` stand where a trigger `{ event }` does. */
  readonly event: Name;
  readonly name: Name;
  readonly schema: Schema;
  readonly version?: string;

  constructor({ name, schema, version }: { name: Name; schema: Schema; version?: string }) {
    if (typeof name !== "string" || name === "") throw new TypeError(`eventType(name): "name" must be a non-empty string, received ${JSON.stringify(name)}`);
    if (schema !== undefined && typeof (schema as { "~standard"?: { validate?: unknown } })?.["~standard"]?.validate !== "function") {
      throw new TypeError(`eventType("${name}"): "schema" must be a Standard Schema (Zod, Valibot, ArkType, staticSchema())`);
    }
    this.event = name;
    this.name = name;
    this.schema = schema;
    if (version !== undefined) this.version = version;
  }

  /**
   * An event of this type to send. Not validated here (validation may be async): call
   * `.validate()`, or let `send` / `step.sendEvent` validate it.
   */
  create(...args: CreateArgs<Schema>): CreatedEvent<Name, SchemaData<Schema>> {
    const [data, options] = args as [SchemaData<Schema> | undefined, CreateEventOptions | undefined];
    const schema = this.schema;
    const name = this.name;
    const event = {
      name,
      data: (data ?? {}) as SchemaData<Schema>,
      ...(options?.id !== undefined ? { id: options.id } : {}),
      ...(options?.ts !== undefined ? { ts: options.ts } : {}),
      ...(options?.v !== undefined || this.version !== undefined ? { v: options?.v ?? this.version } : {}),
    } as CreatedEvent<Name, SchemaData<Schema>>;
    // Neither is enumerable: the event serializes as a plain event.
    Object.defineProperty(event, "validate", {
      value: async () => {
        if (schema) await validateData(schema, event.data, `${name}.create()`, name);
      },
    });
    if (schema) Object.defineProperty(event, eventSchemaSymbol, { value: schema });
    return event;
  }
}

/** Any `EventType`, whatever its name and schema. */
// biome-ignore lint/suspicious/noExplicitAny: matches every schema
export type AnyEventType = EventType<string, any>;

/**
 * Defines a typed event.
 *
 * @example
 * const userSignup = eventType("app/user.signup", { schema: z.object({ email: z.string().email() }) });
 * client.createFunction({ id: "welcome", triggers: [userSignup] }, async ({ event }) => event.data.email);
 * await client.send(userSignup.create({ email: "a@b.co" }));
 */
export function eventType<Name extends string, Schema extends StandardSchemaV1<Record<string, unknown>> | undefined = undefined>(
  name: Name,
  options: { schema?: NoTransform<Schema>; version?: string } = {},
): EventType<Name, Schema> {
  return new EventType<Name, Schema>({ name, schema: options.schema as Schema, ...(options.version !== undefined ? { version: options.version } : {}) });
}

/** A type-only schema: types `data` as `T` with no runtime check (every value passes). */
export function staticSchema<T extends Record<string, unknown>>(): StandardSchemaV1<T> {
  return { "~standard": { version: 1, vendor: "stepwise", validate: (value) => ({ value: value as T }) } };
}

/** True for an `EventType` (also one from another copy of this package). */
export function isEventType(value: unknown): value is AnyEventType {
  return (
    value instanceof EventType ||
    (typeof value === "object" &&
      value !== null &&
      typeof (value as AnyEventType).create === "function" &&
      typeof (value as AnyEventType).event === "string" &&
      "schema" in value)
  );
}
