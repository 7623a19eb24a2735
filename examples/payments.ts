/**
 * Failure handling: a declined card is not worth retrying (NonRetriableError); the run
 * fails at once, and `onFailure` runs once to tell the customer.
 */
import { NonRetriableError, type Stepwise } from "stepwise";
import type { Services } from "./services.ts";

export function createPayment(client: Stepwise, services: Services) {
  return client.createFunction(
    {
      id: "charge-customer",
      onFailure: async ({ error, event, step }) => {
        await step.run("notify-customer", () => {
          services.sent.push({ to: String(event.data.event.data.customer), template: "payment-failed" });
          services.log(`  payment failed for ${event.data.event.data.customer}: ${error.message}`);
        });
        return { notified: true };
      },
    },
    { event: "billing/charge.requested" },
    async ({ event, step }) => {
      return step.run("charge", () => {
        if (event.data.card === "declined") throw new NonRetriableError("card declined");
        return { charged: event.data.amount };
      });
    },
  );
}
