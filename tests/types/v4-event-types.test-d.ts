/**
 * Type tests: Inngest v4's `eventType` / `staticSchema` as triggers, `.create()`,
 * `.validate()`, `step.waitForEvent` with an event type, and `step.invoke` of such a
 * function.
 */
import { type } from "arktype";
import { type CreatedEvent, eventType, Inngest, type ReceivedEvent, staticSchema } from "stepwise";
import * as v from "valibot";
import { expectTypeOf } from "vitest";
import { z as z3 } from "zod";
import { z } from "zod/v4";

const userSignup = eventType("app/user.signup", { schema: z.object({ email: z.string(), plan: z.enum(["free", "pro"]) }) });
const orderPaid = eventType("app/order.paid", { schema: staticSchema<{ orderId: string; cents: number }>() });
const pinged = eventType("app/pinged");
const counted = eventType("app/counted", { schema: v.object({ count: v.number() }) });
const flagged = eventType("app/flagged", { schema: type({ flag: "boolean" }) });
const legacy = eventType("app/legacy", { schema: z3.object({ id: z3.string() }) });

const client = new Inngest({ id: "v4" });

// ---- triggers: [eventType] and { event: eventType } ---------------------------------
client.createFunction({ id: "signup", triggers: [userSignup] }, async ({ event }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/user.signup">();
  expectTypeOf(event.data).toEqualTypeOf<{ email: string; plan: "free" | "pro" }>();
});
client.createFunction({ id: "single", triggers: userSignup }, async ({ event }) => {
  expectTypeOf(event.data.plan).toEqualTypeOf<"free" | "pro">();
});
client.createFunction({ id: "wrapped", triggers: [{ event: orderPaid, if: "event.data.cents > 100" }] }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ orderId: string; cents: number }>();
});
client.createFunction({ id: "v3-form" }, orderPaid, async ({ event }) => {
  expectTypeOf(event.data.cents).toEqualTypeOf<number>();
});
client.createFunction({ id: "libs", triggers: [counted, flagged, legacy] }, async ({ event }) => {
  if (event.name === "app/counted") expectTypeOf(event.data).toEqualTypeOf<{ count: number }>();
  if (event.name === "app/flagged") expectTypeOf(event.data).toEqualTypeOf<{ flag: boolean }>();
  if (event.name === "app/legacy") expectTypeOf(event.data).toEqualTypeOf<{ id: string }>();
});
// A schemaless event type: data is Record<string, any>, as Inngest.
client.createFunction({ id: "ping", triggers: [pinged] }, async ({ event }) => {
  // biome-ignore lint/suspicious/noExplicitAny: Inngest's untyped data
  expectTypeOf(event.data).toEqualTypeOf<Record<string, any>>();
});
// Mixed with plain triggers: the union.
client.createFunction({ id: "mixed", triggers: [userSignup, { event: "app/plain" }, { cron: "0 0 * * *" }] }, async ({ event }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/user.signup" | "app/plain" | "inngest/scheduled.timer">();
  if (event.name === "app/user.signup") expectTypeOf(event.data.email).toEqualTypeOf<string>();
});

// ---- create / validate -------------------------------------------------------------
const created = userSignup.create({ email: "a@b.co", plan: "pro" });
expectTypeOf(created).toEqualTypeOf<CreatedEvent<"app/user.signup", { email: string; plan: "free" | "pro" }>>();
expectTypeOf(created.validate).toEqualTypeOf<() => Promise<void>>();
void client.send(created);
void client.send([created, orderPaid.create({ orderId: "o", cents: 1 }, { id: "dedupe", ts: 1_700_000_000_000 })]);
pinged.create();
pinged.create({ anything: true });
// @ts-expect-error: data is required when the type has a schema
userSignup.create();
// @ts-expect-error: wrong data type
userSignup.create({ email: 1, plan: "pro" });
// @ts-expect-error: not in the enum
userSignup.create({ email: "a", plan: "enterprise" });
// @ts-expect-error: schemas with transforms are refused, as in Inngest
eventType("app/t", { schema: z.object({ n: z.string().transform((s) => s.length) }) });

// ---- step tools with event types ---------------------------------------------------
const child = client.createFunction({ id: "child", triggers: [orderPaid] }, async ({ event }) => ({ total: event.data.cents }));
client.createFunction({ id: "parent", triggers: [userSignup] }, async ({ step }) => {
  const paid = await step.waitForEvent("paid", { event: orderPaid, timeout: "1d", match: "data.orderId" });
  expectTypeOf(paid).toEqualTypeOf<ReceivedEvent<"app/order.paid", { orderId: string; cents: number }> | null>();
  await step.sendEvent("send-created", orderPaid.create({ orderId: "o", cents: 2 }));
  const out = await step.invoke("child", { function: child, data: { orderId: "o", cents: 3 } });
  expectTypeOf(out).toEqualTypeOf<{ total: number }>();
  // @ts-expect-error: the child's trigger schema types data
  await step.invoke("child-bad", { function: child, data: { orderId: 3, cents: 3 } });
});

// ---- v4's { event: "name", schema } triggers and waitForEvent({ event, schema }) ----
client.createFunction({ id: "plain-schema", triggers: [{ event: "app/plain.typed", schema: z.object({ n: z.number() }) }] }, async ({ event, step }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/plain.typed">();
  expectTypeOf(event.data).toEqualTypeOf<{ n: number }>();
  const got = await step.waitForEvent("got", { event: "app/reply", schema: v.object({ ok: v.boolean() }), timeout: "1h" });
  expectTypeOf(got).toEqualTypeOf<ReceivedEvent<"app/reply", { ok: boolean }> | null>();
});
