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

  it("parses every form Inngest's duration library (ms) accepts", () => {
    expect(parseDuration("3 days")).toBe(3 * 86_400_000);
    expect(parseDuration("2 hours")).toBe(7_200_000);
    expect(parseDuration("90 minutes")).toBe(5_400_000);
    expect(parseDuration("1 week")).toBe(604_800_000);
    expect(parseDuration("10 secs")).toBe(10_000);
    expect(parseDuration("2.5 hrs")).toBe(9_000_000);
    expect(parseDuration("1 day")).toBe(86_400_000);
    expect(parseDuration("1 min")).toBe(60_000);
    expect(parseDuration("5 mins")).toBe(300_000);
    expect(parseDuration("1 second")).toBe(1_000);
    expect(parseDuration("250 milliseconds")).toBe(250);
    expect(parseDuration("20 msecs")).toBe(20);
    expect(parseDuration("1 hr")).toBe(3_600_000);
    expect(parseDuration("2 weeks")).toBe(1_209_600_000);
    expect(parseDuration("1y")).toBe(31_557_600_000);
    expect(parseDuration("1 year")).toBe(31_557_600_000);
    expect(parseDuration("2 yrs")).toBe(63_115_200_000);
    expect(parseDuration("3days")).toBe(3 * 86_400_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration(".5s")).toBe(500);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("2 H")).toBe(7_200_000);
    expect(parseDuration("3 Days")).toBe(3 * 86_400_000);
    expect(parseDuration("1500")).toBe(1_500);
    expect(parseDuration(" 10 secs ")).toBe(10_000);
  });

  it("rejects what it cannot parse, naming the field", () => {
    expect(() => parseDuration("soon", "step.sleep")).toThrow(/step.sleep: cannot parse duration "soon"/);
    for (const garbage of ["5 fortnights", "3 days later", "1h 30m", "h", "1..5h", "-5m", "1e3", "3 days2h"]) {
      expect(() => parseDuration(garbage, "step.sleep")).toThrow(/step.sleep: cannot parse duration/);
    }
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
