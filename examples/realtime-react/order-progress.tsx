/**
 * The page side: an order's progress, live. `useSubscription` types each message by the
 * channel's topics: `status` messages carry `{ state, at }`, `log` messages a string.
 */
import { createRoot } from "react-dom/client";
import type { SubscriptionToken } from "stepwise/realtime";
import { type OrderState, orderProgress } from "./channels.ts";
import { useSubscription } from "./use-subscription.ts";

type OrderToken = SubscriptionToken<ReturnType<typeof orderProgress>, ["status", "log"]>;

const steps: OrderState[] = ["received", "charged", "shipped"];

export function OrderProgress({ orderId }: { orderId: string }) {
  const { messages, state, error } = useSubscription({
    refreshToken: async (): Promise<OrderToken> => {
      const response = await fetch(`/api/realtime-token?orderId=${encodeURIComponent(orderId)}`);
      if (!response.ok) throw new Error(`token: ${response.status}`);
      // the server sends the channel by name; keep the definition here for its topics' types
      return { ...((await response.json()) as OrderToken), channel: orderProgress(orderId) };
    },
  });
  const reached = new Set(messages.flatMap((m) => (m.topic === "status" ? [m.data.state] : [])));
  const log = messages.flatMap((m) => (m.topic === "log" ? [m.data] : []));
  return (
    <section>
      <h2>
        Order {orderId} <small>({state})</small>
      </h2>
      {error ? <p role="alert">{error.message}</p> : null}
      <ol>
        {steps.map((s) => (
          <li key={s} style={{ opacity: reached.has(s) ? 1 : 0.4 }}>
            {s}
          </li>
        ))}
      </ol>
      <ul>
        {log.map((line, i) => (
          <li key={`${i}:${line}`}>{line}</li>
        ))}
      </ul>
    </section>
  );
}

const root = typeof document === "undefined" ? null : document.getElementById("root");
if (root) createRoot(root).render(<OrderProgress orderId={new URLSearchParams(location.search).get("order") ?? "1"} />);
