import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration, resolveInstant } from "./time.ts";

describe("time strings", () => {
  it("parses Go-style durations", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("2h45m")).toBe(9_900_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("3d")).toBe(259_200_000);
    expect(parseDuration("1w2d")).toBe(777_600_000);
    expect(parseDuration("300ms")).toBe(300);
    expect(parseDuration("")).toBe(0);
    expect(parseDuration(1500)).toBe(1500);
  });

  it("rejects what it cannot parse, naming the field", () => {
    expect(() => parseDuration("soon", "step.sleep")).toThrow(/step.sleep: cannot parse duration "soon"/);
    expect(() => parseDuration("5 minutes")).toThrow(/cannot parse/);
    expect(() => parseDuration(-1)).toThrow(/non-negative/);
  });

  it("resolves instants and durations against now", () => {
    expect(resolveInstant("2030-01-01T00:00:00.000Z", 0)).toBe(Date.UTC(2030, 0, 1));
    expect(resolveInstant("1m", 1_000)).toBe(61_000);
    expect(resolveInstant(new Date(5), 0)).toBe(5);
  });

  it("formats ms as an exact duration string that parses back", () => {
    for (const ms of [1, 999, 1500, 90_000, 86_400_000 + 1]) expect(parseDuration(formatDuration(ms))).toBe(ms);
    expect(formatDuration(90_000)).toBe("1m30s");
  });
});
