/**
 * Retries: the first two attempts of `call-flaky-api` fail; the third succeeds. Only
 * that step re-runs: `before` ran once.
 */
import type { Stepwise } from "stepwise";
import type { Services } from "./services.ts";

export function createFlaky(client: Stepwise, services: Services) {
  const calls = { before: 0, flaky: 0 };
  const fn = client.createFunction({ id: "flaky-sync", retries: 4 }, { event: "sync/requested" }, async ({ step, attempt }) => {
    await step.run("before", () => {
      calls.before++;
    });
    const result = await step.run("call-flaky-api", () => {
      calls.flaky++;
      if (calls.flaky <= 2) throw new Error(`upstream timeout (call ${calls.flaky})`);
      services.log(`  flaky api answered on attempt ${attempt}`);
      return { ok: true, attempt };
    });
    return result;
  });
  return { fn, calls };
}
