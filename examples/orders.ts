/**
 * Order flow: load the order, then reserve stock, charge the card and prepare the label
 * in parallel (each retried on its own), then confirm.
 */
import type { Stepwise } from "stepwise";
import type { Services } from "./services.ts";

export function createOrderFlow(client: Stepwise, services: Services) {
  return client.createFunction({ id: "process-order", name: "Process order" }, { event: "shop/order.placed" }, async ({ event, step }) => {
    const order = await step.run("load-order", () => ({
      id: String(event.data.orderId),
      items: (event.data.items as string[] | undefined) ?? ["book"],
      total: Number(event.data.total ?? 42),
    }));
    const [reservation, payment, label] = await Promise.all([
      step.run("reserve-stock", () => ({ reserved: order.items.length })),
      step.run("charge-card", () => ({ charged: order.total, at: new Date() })),
      step.run("create-label", () => ({ label: `LBL-${order.id}` })),
    ]);
    await step.run("confirm", () => {
      services.sent.push({ to: `order-${order.id}`, template: "confirmation" });
      services.log(`  order ${order.id}: reserved ${reservation.reserved}, charged ${payment.charged}, ${label.label}`);
    });
    return { orderId: order.id, chargedAt: payment.at };
  });
}
