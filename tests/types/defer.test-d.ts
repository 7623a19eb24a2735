/**
 * `defer()` and `createDefer` types: the deferred function's data type checks the data
 * its callers pass; `step.sendEvent`'s `order` option takes only "preserve".
 */
import { createDefer, Stepwise } from "stepwise";
import { expectTypeOf } from "vitest";

export function deferTypes() {
  const client = new Stepwise({ id: "types" });
  const receipt = createDefer<{ orderId: string }>(client, { id: "receipt" }, async ({ event, parents }) => {
    expectTypeOf(event.data.orderId).toEqualTypeOf<string>();
    expectTypeOf(parents[0]?.runId).toEqualTypeOf<string | undefined>();
    return event.data.orderId;
  });
  client.createFunction({ id: "order" }, { event: "shop/order" }, async ({ defer, step }) => {
    const handle = defer("receipt", { function: receipt, data: { orderId: "o1" } });
    expectTypeOf(handle.abort).toEqualTypeOf<() => void>();
    // @ts-expect-error the data must match the deferred function's
    defer("wrong", { function: receipt, data: { orderId: 1 } });
    await step.sendEvent("send", [{ name: "a" }, { name: "b" }], { order: "preserve" });
    // @ts-expect-error only "preserve"
    await step.sendEvent("send-2", [{ name: "a" }], { order: "fifo" });
  });
}
