/**
 * The functions bench/postgres.ts runs on both stores and in its child nodes: a 1-step
 * and a 3-step function (as in the core scenario), and a sleeper that sleeps until the
 * time its event names and records how late it woke.
 */
import type { Stepwise } from "stepwise";

/** Sleepers' lateness in ms by event index, filled in by the sleeper's last call in this process. */
export const woke = new Map<number, number>();

export const defineBenchFunctions = (client: Stepwise) => [
  client.createFunction({ id: "one" }, { event: "bench/one" }, async ({ step }) => step.run("a", () => 1)),
  client.createFunction({ id: "three" }, { event: "bench/three" }, async ({ step }) => {
    const a = await step.run("a", () => 1);
    const b = await step.run("b", () => a + 1);
    return step.run("c", () => b + 1);
  }),
  client.createFunction({ id: "sleeper" }, { event: "bench/sleep" }, async ({ event, step }) => {
    const { i, wakeAt } = event.data as { i: number; wakeAt: number };
    await step.sleepUntil("nap", new Date(wakeAt));
    // runs once, in the call after the sleep ended
    const late = Date.now() - wakeAt;
    woke.set(i, late);
    return late;
  }),
];
