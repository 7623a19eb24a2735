/**
 * The README's typed-events and middleware examples, compiled as written (types only).
 */
import { EventSchemas, encryptionMiddleware, eventType, Inngest, InngestMiddleware, loggerMiddleware, Stepwise, staticSchema } from "stepwise";
import { expectTypeOf } from "vitest";
import { z } from "zod";

export async function typedEvents() {
  const inngest = new Inngest({
    id: "shop",
    schemas: new EventSchemas().fromRecord<{ "app/user.signed-up": { data: { userId: string } } }>(),
  });
  inngest.createFunction({ id: "welcome" }, { event: "app/user.signed-up" }, async ({ event }) => {
    expectTypeOf(event.data.userId).toEqualTypeOf<string>();
    return event.data.userId;
  });
  // @ts-expect-error a misspelt event name
  await inngest.send({ name: "app/user.signed-upp" });

  const shop = new Inngest({ id: "shop" });
  const orderPaid = eventType("shop/order.paid", { schema: z.object({ orderId: z.string(), cents: z.number().int() }) });
  shop.createFunction({ id: "receipt", triggers: [orderPaid] }, async ({ event }) => {
    expectTypeOf(event.data.cents).toEqualTypeOf<number>();
    return event.data.cents;
  });
  await shop.send(orderPaid.create({ orderId: "o1", cents: 499 }));
  const noted = eventType("shop/order.noted", { schema: staticSchema<{ note: string }>() });
  expectTypeOf(noted.create({ note: "n" }).data.note).toEqualTypeOf<string>();
}

export function middleware(connectDb: () => { query(sql: string): Promise<unknown> }) {
  const db = new InngestMiddleware({
    name: "db",
    init: () => ({ onFunctionRun: () => ({ transformInput: () => ({ ctx: { db: connectDb() } }) }) }),
  });
  const client = new Stepwise({ id: "shop", middleware: [db, loggerMiddleware(), encryptionMiddleware({ key: "k" })] });
  client.createFunction({ id: "f" }, { event: "shop/x" }, async ({ db }) => db.query("…"));
}
