import { describe, expect, it } from "vitest";
import { validateEvent, validateEvents } from "./event.ts";

describe("event validation", () => {
  it("fills defaults", () => {
    expect(validateEvent({ name: "a/b" })).toEqual({ name: "a/b", data: {}, user: {} });
  });

  it.each([
    [{}, /"name" is required/],
    [{ name: "" }, /"name" is required/],
    [{ name: "x", data: [1] }, /"data" must be an object, received an array/],
    [{ name: "x", data: "s" }, /"data" must be an object, received string/],
    [{ name: "x", ts: "now" }, /"ts" must be a number/],
    [{ name: "x", ts: 5 }, /outside 1980-01-01/],
    [{ name: "inngest/function.failed" }, /reserved prefix/],
    [null, /expected an object, received null/],
  ])("rejects %j", (input, message) => {
    expect(() => validateEvent(input)).toThrow(message);
  });

  it("names the index of the bad event in a batch and accepts none of it", () => {
    expect(() => validateEvents([{ name: "ok" }, { name: "ok" }, { data: {} }])).toThrow(/^events\[2\]: "name" is required/);
  });

  it("enforces the size limit with the sizes in the message", () => {
    const big = { name: "x", data: { blob: "a".repeat(600 * 1024) } };
    expect(() => validateEvent(big)).toThrow(/is 600.0 KB; the limit is 512.0 KB/);
    expect(validateEvent(big, "event", { maxBytes: 1024 * 1024 }).name).toBe("x");
  });

  it("rejects empty and oversized sends", () => {
    expect(() => validateEvents([])).toThrow(/at least one event/);
    expect(() => validateEvents(Array.from({ length: 5001 }, () => ({ name: "x" })))).toThrow(/5001 events in one call; the limit is 5000/);
  });
});
