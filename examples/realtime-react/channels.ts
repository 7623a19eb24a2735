/**
 * The channel the example's function publishes on and its page subscribes to, shared by
 * both sides (it imports only `stepwise/realtime`, which is browser-safe).
 */
import { channel, topic } from "stepwise/realtime";

export type OrderState = "received" | "charged" | "shipped";

export const orderProgress = channel({
  name: (orderId: string) => `order:${orderId}`,
  topics: {
    status: topic<{ state: OrderState; at: string }>(),
    log: topic<string>(),
  },
});
