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

  it.each([
    ["a Date as data", { name: "x", data: new Date(0) }, /^event: "data" must be an object, received a Date/],
    ["a Map as data", { name: "x", data: new Map() }, /^event: "data" must be an object, received a Map/],
    ["a toJSON returning an array", { name: "x", data: { toJSON: () => [1] } }, /^event: "data" must be an object/],
    ["a toJSON returning undefined", { name: "x", user: { toJSON: () => undefined } }, /^event: "user" must be an object/],
    ["a nested Set", { name: "x", data: { s: new Set([1]) } }, /^event: data\.s: a Set is not JSON/],
    ["Infinity", { name: "x", data: { n: Number.POSITIVE_INFINITY } }, /^event: data\.n: Infinity is not a JSON number/],
    ["a bigint", { name: "x", data: { n: 1n } }, /^event: data\.n: a bigint is not JSON/],
    ["a function", { name: "x", data: { f: () => 1 } }, /^event: data\.f: a function is not JSON/],
    ["a nested toJSON returning NaN", { name: "x", data: { t: { toJSON: () => Number.NaN } } }, /^event: data\.t: NaN/],
  ])("refuses what JSON would change: %s", (_name, input, message) => {
    expect(() => validateEvent(input)).toThrow(message);
  });

  it("returns data and user as they will be stored (nested toJSON values applied, undefined keys dropped)", () => {
    const out = validateEvent({ name: "x", data: { at: new Date(0), gone: undefined, n: [1, null] } });
    expect(out.data).toEqual({ at: "1970-01-01T00:00:00.000Z", n: [1, null] });
    expect(Object.hasOwn(out.data, "gone")).toBe(false);
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
