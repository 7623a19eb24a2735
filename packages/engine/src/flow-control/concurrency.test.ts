import { describe, expect, it } from "vitest";
import { type ConcurrencyKey, ConcurrencySlots, concurrencyKeys } from "./concurrency.ts";

const key = (k: string, limit = 1): ConcurrencyKey => ({ key: k, label: k, limit });

describe("ConcurrencySlots", () => {
  it("hands slots to waiters in FIFO order and never exceeds the limit", async () => {
    const slots = new ConcurrencySlots();
    const order: number[] = [];
    const waits: number[] = [];
    const releases = await Promise.all([0, 1].map(() => slots.acquire([key("a", 2)], () => {})));
    const pending = [2, 3, 4].map((n) =>
      slots
        .acquire([key("a", 2)], () => waits.push(n))
        .then((release) => {
          order.push(n);
          return release;
        }),
    );
    expect(waits).toEqual([2, 3, 4]);
    expect(slots.inUse("a")).toBe(2);
    releases[0]!();
    const third = await pending[0]!;
    expect(order).toEqual([2]);
    releases[1]!();
    third();
    await Promise.all(pending.slice(1));
    expect(order).toEqual([2, 3, 4]);
    expect(slots.inUse("a")).toBe(2);
  });

  it("keys are independent: a full key does not hold up another", async () => {
    const slots = new ConcurrencySlots();
    await slots.acquire([key("hot")], () => {});
    let waited = false;
    void slots.acquire([key("hot")], () => (waited = true));
    const other = await slots.acquire([key("cold")], () => {
      throw new Error("must not wait");
    });
    expect(waited).toBe(true);
    other();
  });

  it("derives keys from the trigger event, per function or shared by scope", () => {
    const config = {
      id: "app-fn",
      slug: "fn",
      appId: "app",
      name: "fn",
      triggers: [],
      retries: 0,
      concurrency: [
        { limit: 2, key: "event.data.user" },
        { limit: 5, scope: "account" as const, key: '"openai"' },
      ],
    };
    const keys = concurrencyKeys(config, { id: "e", name: "x", data: { user: "u1" }, user: {}, ts: 0 });
    expect(keys).toEqual([
      { key: 'app-fn|event.data.user|"u1"', label: '"u1"', limit: 2 },
      { key: 'account|"openai"|"openai"', label: '"openai"', limit: 5 },
    ]);
  });
});
