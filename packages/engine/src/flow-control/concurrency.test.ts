import { describe, expect, it } from "vitest";
import { concurrencyKeys, concurrencyLabel } from "./concurrency.ts";

describe("concurrency keys", () => {
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
    expect(keys.map((k) => concurrencyLabel(k.key))).toEqual(['"u1"', '"openai"']);
  });
});
