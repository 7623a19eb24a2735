/**
 * @module time
 * Time strings as the Inngest protocol writes them: Go-style durations (`"300ms"`,
 * `"1.5h"`, `"2h45m"`, `"1w2d"`), the single-unit forms of the `ms` library the
 * Inngest SDK reads durations with (`"3 days"`, `"2.5 hrs"`, `"10 secs"`, `"1 week"`,
 * `"1500"` meaning ms), or an ISO-8601 instant, or `""` meaning zero.
 */
import { StepwiseError } from "./errors.ts";

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const durationPattern = /^(?:\d+(?:\.\d+)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d|w)(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d|w))*$/;
const partPattern = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)/g;
/** The `ms` library's form: one number, optional spaces, an optional unit (case-insensitive). */
const longPattern = /^((?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$/i;
const longUnitMs: Record<string, number> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
  y: 31_557_600_000,
  yr: 31_557_600_000,
  yrs: 31_557_600_000,
  year: 31_557_600_000,
  years: 31_557_600_000,
};
const isoPattern = /^\d{4}-\d{2}-\d{2}T/;

/** A duration in ms from a number of ms or a duration string. Throws naming `field`. */
export function parseDuration(value: string | number, field = "duration"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new StepwiseError("invalid_argument", `${field}: expected a non-negative number of milliseconds, received ${value}`);
    }
    return value;
  }
  const text = value.trim();
  if (text === "") return 0;
  const long = text.length <= 100 ? longPattern.exec(text) : null;
  if (long) return Math.round(Number(long[1]) * (longUnitMs[(long[2] ?? "ms").toLowerCase()] as number));
  if (!durationPattern.test(text)) {
    throw new StepwiseError(
      "invalid_argument",
      `${field}: cannot parse duration ${JSON.stringify(value)}; expected e.g. "30s", "2h45m", "3 days", "1 week" or milliseconds`,
    );
  }
  let total = 0;
  for (const match of text.matchAll(partPattern)) {
    total += Number(match[1]) * (unitMs[match[2] as string] as number);
  }
  return Math.round(total);
}

/**
 * The instant (epoch ms) a time string points at: an ISO instant as is, otherwise
 * `now` plus the duration. This is how Sleep op names are read.
 */
export function resolveInstant(value: string | number | Date, now: number, field = "time"): number {
  if (value instanceof Date) {
    const at = value.getTime();
    if (Number.isNaN(at)) throw new StepwiseError("invalid_argument", `${field}: invalid Date`);
    return at;
  }
  if (typeof value === "string" && isoPattern.test(value.trim())) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) throw new StepwiseError("invalid_argument", `${field}: invalid ISO instant ${JSON.stringify(value)}`);
    return at;
  }
  return now + parseDuration(value, field);
}

/** Formats ms as the shortest exact duration string (`90000` → `"1m30s"`, `1500` → `"1s500ms"`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s", "ms"] as const) {
    const size = unitMs[unit] as number;
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
