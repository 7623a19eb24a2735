/** The example app: one client and every example function. */
import { type Logger, Stepwise } from "stepwise";
import { createFlaky } from "./flaky.ts";
import { createOnboarding } from "./onboarding.ts";
import { createOrderFlow } from "./orders.ts";
import { createPayment } from "./payments.ts";
import { createServices } from "./services.ts";

export function createExampleApp(options: { log?: (line: string) => void; logger?: Logger } = {}) {
  const client = new Stepwise({ id: "example-app", ...(options.logger ? { logger: options.logger } : {}) });
  const services = createServices(options.log);
  const flaky = createFlaky(client, services);
  const functions = {
    onboarding: createOnboarding(client, services),
    orders: createOrderFlow(client, services),
    flaky: flaky.fn,
    payment: createPayment(client, services),
  };
  return { client, services, functions, flakyCalls: flaky.calls };
}
