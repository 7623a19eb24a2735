import { formatDuration, limits, OpCode, parseDuration } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/**
 * `step.sleep(id, duration)`: pauses the run for a duration (`"30s"`, `"2h45m"`, `"3d"`,
 * `"1w"`, or ms), up to a year. Nothing is held in memory while it sleeps.
 * `step.sleepUntil(id, instant)`: pauses until a `Date` or ISO instant (past: no pause).
 */
export function createSleep(request: (r: StepRequest) => Promise<unknown>) {
  async function sleep(idInput: StepIdInput, duration: string | number): Promise<void> {
    const { id, displayName } = readStepId(idInput, "step.sleep");
    const ms = parseDuration(duration, `step.sleep("${id}")`);
    if (ms > limits.sleepMs) throw new RangeError(`step.sleep("${id}"): ${JSON.stringify(duration)} is longer than the 1 year limit`);
    // the op names the duration in the SDK's canonical form ("3 days" → "3d"), as Inngest's timeStr does
    const name = formatDuration(ms);
    await request({ id, ...(displayName ? { displayName } : {}), op: OpCode.Sleep, name });
  }
  async function sleepUntil(idInput: StepIdInput, until: Date | string): Promise<void> {
    const { id, displayName } = readStepId(idInput, "step.sleepUntil");
    const at = until instanceof Date ? until : new Date(until);
    if (Number.isNaN(at.getTime())) throw new TypeError(`step.sleepUntil("${id}"): invalid date ${JSON.stringify(until)}`);
    await request({ id, ...(displayName ? { displayName } : {}), op: OpCode.Sleep, name: at.toISOString() });
  }
  return { sleep, sleepUntil };
}
