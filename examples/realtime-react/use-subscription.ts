/**
 * `useSubscription`: a React hook over Stepwise's `subscribe` (`stepwise/realtime`). It
 * fetches a token with `refreshToken` (your server's token route), subscribes, collects
 * the messages, and on a dropped connection subscribes again with a fresh token (tokens
 * are short-lived). Closing happens on unmount or when `enabled` turns false.
 */
import { useEffect, useRef, useState } from "react";
import { type SubscriptionToken, subscribe, type TokenMessage } from "stepwise/realtime";

export type SubscriptionState = "connecting" | "open" | "reconnecting" | "closed" | "error";

export interface UseSubscriptionOptions<T extends SubscriptionToken> {
  /** Gets a fresh token (e.g. `fetch("/api/realtime-token?orderId=42").then(r => r.json())`). */
  refreshToken: () => Promise<T>;
  /** Subscribe only while true. (Default: true.) */
  enabled?: boolean;
  /** Wait before subscribing again after the connection drops, ms. (Default: 1,000.) */
  reconnectMs?: number;
}

export interface UseSubscriptionResult<M> {
  /** Every message received, oldest first. */
  messages: M[];
  latest: M | undefined;
  state: SubscriptionState;
  error: Error | undefined;
}

export function useSubscription<T extends SubscriptionToken>(options: UseSubscriptionOptions<T>): UseSubscriptionResult<TokenMessage<T>> {
  const { enabled = true, reconnectMs = 1_000 } = options;
  const [messages, setMessages] = useState<TokenMessage<T>[]>([]);
  const [state, setState] = useState<SubscriptionState>(enabled ? "connecting" : "closed");
  const [error, setError] = useState<Error | undefined>(undefined);
  // the latest refreshToken, without resubscribing when the caller passes a new closure
  const refresh = useRef(options.refreshToken);
  refresh.current = options.refreshToken;

  useEffect(() => {
    if (!enabled) {
      setState("closed");
      return;
    }
    let stopped = false;
    let close: (() => void) | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = async (attempt: number) => {
      try {
        const subscription = await subscribe(await refresh.current());
        if (stopped) {
          subscription.close();
          return;
        }
        close = () => subscription.close();
        setState("open");
        setError(undefined);
        const reader = subscription.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          setMessages((previous) => [...previous, value]);
        }
        if (stopped) return;
        setState("reconnecting");
        retry = setTimeout(() => void connect(0), reconnectMs);
      } catch (cause) {
        if (stopped) return;
        setError(cause as Error);
        setState(attempt >= 4 ? "error" : "reconnecting");
        if (attempt < 4) retry = setTimeout(() => void connect(attempt + 1), reconnectMs * 2 ** attempt);
      }
    };
    setState("connecting");
    void connect(0);
    return () => {
      stopped = true;
      clearTimeout(retry);
      close?.();
    };
  }, [enabled, reconnectMs]);

  return { messages, latest: messages.at(-1), state, error };
}
