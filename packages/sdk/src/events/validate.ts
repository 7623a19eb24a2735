/**
 * @module events/validate
 * Runtime validation of event data against Standard Schemas: on send (events made by an
 * `EventType`'s `create`, and any event named like an `EventType` a function of the
 * client is triggered by) and on receive (a function triggered by an `EventType` with a
 * schema checks its events before the handler runs).
 */
import { EventValidationError } from "../errors.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";

/** `"data.user.email: Invalid email"`, one per issue, joined with `; `. */
export function formatIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>, root = "data"): string {
  if (issues.length === 0) return `${root}: validation failed`;
  return issues
    .map((issue) => {
      const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" && segment !== null ? segment.key : segment));
      return `${[root, ...path].join(".")}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Validates `data` against `schema`; throws an `EventValidationError` naming `where`,
 * the event and each failing field. Returns the schema's output.
 */
export async function validateData(schema: StandardSchemaV1, data: unknown, where: string, name: string): Promise<unknown> {
  const result = await schema["~standard"].validate(data ?? {});
  if (result.issues) throw new EventValidationError(`${where}: event "${name}" is invalid: ${formatIssues(result.issues)}`);
  return result.value;
}

/** Schemas an event name must satisfy (any one of them, as Inngest's union validation). */
export type SchemaRegistry = ReadonlyMap<string, readonly StandardSchemaV1[]>;

/** The schemas of `name`: exact entries, then wildcard entries (`"app/user.*"`) that match it. */
export function schemasFor(registry: SchemaRegistry, name: string): readonly StandardSchemaV1[] {
  const exact = registry.get(name);
  let found: StandardSchemaV1[] | undefined;
  for (const [pattern, schemas] of registry) {
    if (pattern.endsWith("*") && name.startsWith(pattern.slice(0, -1))) (found ??= []).push(...schemas);
  }
  if (!found) return exact ?? [];
  return exact ? [...exact, ...found] : found;
}

async function validateOne(schemas: readonly StandardSchemaV1[], data: unknown, where: string, name: string): Promise<void> {
  if (schemas.length === 0) return;
  if (schemas.length === 1) {
    await validateData(schemas[0]!, data, where, name);
    return;
  }
  const results = await Promise.allSettled(schemas.map((schema) => validateData(schema, data, where, name)));
  if (results.some((r) => r.status === "fulfilled")) return;
  throw (results[0] as PromiseRejectedResult).reason;
}

/** A symbol on events made by `EventType.create`, holding the type's schema. */
export const eventSchemaSymbol: unique symbol = Symbol.for("stepwise.eventSchema");

/**
 * Validates outgoing events (one or an array) before anything is sent: events made by
 * `EventType.create` against their schema, others against `registry`. All or nothing:
 * the first bad event rejects the whole call with an `EventValidationError` naming its
 * index and field.
 */
export async function validateOutgoingEvents(payload: unknown, registry: SchemaRegistry | undefined, tool = "send"): Promise<void> {
  const list = Array.isArray(payload) ? payload : [payload];
  for (const [i, event] of list.entries()) {
    if (typeof event !== "object" || event === null) continue; // the protocol's validation names it
    const { name, data } = event as { name?: unknown; data?: unknown };
    if (typeof name !== "string") continue;
    const own = (event as { [eventSchemaSymbol]?: StandardSchemaV1 })[eventSchemaSymbol];
    const schemas = own ? [own] : registry ? schemasFor(registry, name) : [];
    await validateOne(schemas, data, Array.isArray(payload) ? `${tool}: events[${i}]` : `${tool}: event`, name);
  }
}

/**
 * Validates a run's triggering events against its function's trigger schemas; an event
 * whose name has no schema passes.
 */
export async function validateIncomingEvents(events: ReadonlyArray<{ name: string; data: unknown }>, registry: SchemaRegistry): Promise<void> {
  if (registry.size === 0) return;
  for (const [i, event] of events.entries()) {
    await validateOne(schemasFor(registry, event.name), event.data, events.length > 1 ? `received events[${i}]` : "received event", event.name);
  }
}
