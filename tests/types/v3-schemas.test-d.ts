/**
 * Type tests (checked by `npm run check`, never run): Inngest v3's `EventSchemas` typing
 * handlers, `send`, `step.sendEvent`, `step.waitForEvent`, `step.invoke` and `onFailure`.
 * A `@ts-expect-error` that stops being an error fails the check.
 */
import { type type as arkTypeOf, type } from "arktype";
import { type AnyStepwise, EventSchemas, Inngest, type ReceivedEvent, Stepwise } from "stepwise";
import * as v from "valibot";
import { expectTypeOf } from "vitest";
import { z } from "zod";
import { z as z4 } from "zod/v4";

type Signup = { name: "app/user.signup"; data: { userId: string; plan: "free" | "pro" } };
type Deleted = { name: "app/user.deleted"; data: { userId: string; reason?: string } };

const schemas = new EventSchemas()
  .fromRecord<{ "app/order.placed": { data: { orderId: string; cents: number; items: { sku: string; qty: number }[] } } }>()
  .fromUnion<Signup | Deleted>()
  .fromZod({ "app/invoice.sent": { data: z.object({ invoiceId: z.string(), total: z.number() }) } })
  .fromZod([z.object({ name: z.literal("app/cart.abandoned"), data: z.object({ cartId: z.string() }) })])
  .fromSchema({
    "app/zod4.event": z4.object({ id: z4.string(), tags: z4.array(z4.string()) }),
    "app/valibot.event": v.object({ count: v.number(), label: v.optional(v.string()) }),
    "app/ark.event": type({ flag: "boolean", score: "number" }),
  });

const client = new Inngest({ id: "typed", schemas });

// `Inngest` is `Stepwise`.
expectTypeOf(client).toEqualTypeOf<Stepwise<typeof schemas>>();

// ---- event.data typed per trigger -------------------------------------------------
client.createFunction({ id: "record" }, { event: "app/order.placed" }, async ({ event, events }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/order.placed">();
  expectTypeOf(event.data).toEqualTypeOf<{ orderId: string; cents: number; items: { sku: string; qty: number }[] }>();
  expectTypeOf(events).toEqualTypeOf<ReceivedEvent<"app/order.placed", { orderId: string; cents: number; items: { sku: string; qty: number }[] }>[]>();
  // @ts-expect-error: not a field of the event
  event.data.missing;
});

client.createFunction({ id: "union" }, { event: "app/user.signup" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ userId: string; plan: "free" | "pro" }>();
});

client.createFunction({ id: "zod3" }, { event: "app/invoice.sent" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ invoiceId: string; total: number }>();
});

client.createFunction({ id: "zod3-literal" }, { event: "app/cart.abandoned" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ cartId: string }>();
});

client.createFunction({ id: "zod4" }, { event: "app/zod4.event" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ id: string; tags: string[] }>();
});

client.createFunction({ id: "valibot" }, { event: "app/valibot.event" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ count: number; label?: string | undefined }>();
});

client.createFunction({ id: "arktype" }, { event: "app/ark.event" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<{ flag: boolean; score: number }>();
});
expectTypeOf<arkTypeOf.infer<"string">>().toEqualTypeOf<string>();

// The v4 form (`triggers` in the options) types the same way.
client.createFunction({ id: "v4-form", triggers: [{ event: "app/invoice.sent" }] }, async ({ event }) => {
  expectTypeOf(event.data.total).toEqualTypeOf<number>();
});

// ---- multi-trigger and wildcard functions: `event` is the union ------------------
client.createFunction({ id: "multi" }, [{ event: "app/user.signup" }, { event: "app/invoice.sent" }, { cron: "0 * * * *" }], async ({ event }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/user.signup" | "app/invoice.sent" | "inngest/scheduled.timer">();
  if (event.name === "app/user.signup") expectTypeOf(event.data.plan).toEqualTypeOf<"free" | "pro">();
  if (event.name === "app/invoice.sent") expectTypeOf(event.data.total).toEqualTypeOf<number>();
  if (event.name === "inngest/scheduled.timer") expectTypeOf(event.data.cron).toEqualTypeOf<string>();
  // @ts-expect-error: `plan` is not on every member of the union
  event.data.plan;
});

client.createFunction({ id: "wildcard", triggers: [{ event: "app/user.*" }] }, async ({ event }) => {
  expectTypeOf(event.name).toEqualTypeOf<"app/user.signup" | "app/user.deleted">();
  expectTypeOf(event.data.userId).toEqualTypeOf<string>();
  if (event.name === "app/user.deleted") expectTypeOf(event.data.reason).toEqualTypeOf<string | undefined>();
});

// @ts-expect-error: unknown event names are refused when the client has schemas
client.createFunction({ id: "unknown-trigger" }, { event: "app/nope" }, async () => {});

// ---- send ---------------------------------------------------------------------------
void client.send({ name: "app/user.signup", data: { userId: "u1", plan: "pro" } });
void client.send([
  { name: "app/invoice.sent", data: { invoiceId: "i1", total: 3 } },
  { name: "app/valibot.event", data: { count: 1 }, id: "dedupe-1", ts: Date.now() },
]);
// @ts-expect-error: unknown event name
void client.send({ name: "app/unknown", data: {} });
// @ts-expect-error: wrong data type
void client.send({ name: "app/user.signup", data: { userId: 1, plan: "pro" } });
// @ts-expect-error: missing required data
void client.send({ name: "app/user.signup" });
// @ts-expect-error: a value outside the union
void client.send({ name: "app/user.signup", data: { userId: "u", plan: "enterprise" } });

// ---- step.sendEvent, step.waitForEvent, step.invoke ----------------------------------
const child = client.createFunction({ id: "child" }, { event: "app/invoice.sent" }, async ({ event }) => ({ doubled: event.data.total * 2, at: new Date() }));
const voidChild = client.createFunction({ id: "void-child" }, { event: "app/user.deleted" }, async () => {});

client.createFunction({ id: "steps" }, { event: "app/user.signup" }, async ({ step }) => {
  await step.sendEvent("fan-out", { name: "app/user.deleted", data: { userId: "u" } });
  await step.sendEvent("many", [
    { name: "app/user.deleted", data: { userId: "u" } },
    { name: "app/cart.abandoned", data: { cartId: "c" } },
  ]);
  // @ts-expect-error: unknown event name
  await step.sendEvent("bad-name", { name: "app/unknown", data: {} });
  // @ts-expect-error: wrong data
  await step.sendEvent("bad-data", { name: "app/cart.abandoned", data: { cartId: 1 } });

  const paid = await step.waitForEvent("paid", { event: "app/invoice.sent", timeout: "1h", match: "data.invoiceId" });
  expectTypeOf(paid).toEqualTypeOf<ReceivedEvent<"app/invoice.sent", { invoiceId: string; total: number }> | null>();
  if (paid) expectTypeOf(paid.data.total).toEqualTypeOf<number>();
  // @ts-expect-error: unknown event name
  await step.waitForEvent("never", { event: "app/unknown", timeout: "1h" });

  const result = await step.invoke("child", { function: child, data: { invoiceId: "i", total: 2 } });
  expectTypeOf(result).toEqualTypeOf<{ doubled: number; at: string }>();
  // @ts-expect-error: the child's data type is required
  await step.invoke("child-no-data", { function: child });
  // @ts-expect-error: wrong data for the child
  await step.invoke("child-bad", { function: child, data: { invoiceId: 1, total: 2 } });
  expectTypeOf(await step.invoke("void", { function: voidChild, data: { userId: "u" } })).toEqualTypeOf<null>();
  expectTypeOf(await step.invoke("by-id", { function: "typed-child" })).toEqualTypeOf<unknown>();
});

// ---- onFailure sees the failed run's event ------------------------------------------
client.createFunction(
  {
    id: "fails",
    onFailure: async ({ event, error }) => {
      expectTypeOf(error).toEqualTypeOf<Error>();
      expectTypeOf(event.name).toEqualTypeOf<"inngest/function.failed">();
      expectTypeOf(event.data.function_id).toEqualTypeOf<string>();
      expectTypeOf(event.data.event).toEqualTypeOf<ReceivedEvent<"app/user.signup", { userId: string; plan: "free" | "pro" }>>();
      expectTypeOf(event.data.event.data.plan).toEqualTypeOf<"free" | "pro">();
    },
  },
  { event: "app/user.signup" },
  async () => {
    throw new Error("boom");
  },
);

client.createFunction(
  {
    id: "fails-v4",
    triggers: [{ event: "app/user.signup" }, { event: "app/user.deleted" }],
    onFailure: async ({ event }) => {
      expectTypeOf(event.data.event.name).toEqualTypeOf<"app/user.signup" | "app/user.deleted">();
    },
  },
  async () => "ok",
);

// ---- chaining: a later definition replaces an earlier one of the same name ---------
const replaced = new EventSchemas().fromRecord<{ "a/x": { data: { v: 1 } } }>().fromRecord<{ "a/x": { data: { v: 2 } } }>();
new Stepwise({ id: "r", schemas: replaced }).createFunction({ id: "r" }, { event: "a/x" }, async ({ event }) => {
  expectTypeOf(event.data.v).toEqualTypeOf<2>();
});
// @ts-expect-error: a `name` that differs from its key
new EventSchemas().fromRecord<{ "a/x": { name: "a/y"; data: { v: 1 } } }>();

// ---- a typed client is an AnyStepwise (Inngest's Inngest.Any) -----------------------
const asAny: AnyStepwise = client;
void asAny;
