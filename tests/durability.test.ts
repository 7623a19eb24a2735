/**
 * State lives in the SQLite file: a closed engine's runs resume in a new one.
 */
import { join } from "node:path";
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { runsOf, startEngine, tempDir } from "./helpers.ts";

describe("durability across restarts", () => {
  it("a sleeping run resumes in a new engine on the same file, and completed steps do not run again", async () => {
    const database = join(tempDir(), "restart.db");
    const effects: string[] = [];
    const define = () => {
      const c = new Stepwise({ id: "r", logger: silentLogger });
      const fn = c.createFunction({ id: "sleeper" }, { event: "r/go" }, async ({ step }) => {
        await step.run("before", () => effects.push("before"));
        await step.sleep("nap", "300ms");
        await step.run("after", () => effects.push("after"));
        return "woke";
      });
      return { c, fn };
    };
    const first = define();
    const a = await startEngine({ database, client: first.c, functions: [first.fn] });
    const { ids } = await first.c.send({ name: "r/go" });
    const [run] = await runsOf(a.engine, ids[0]);
    // wait until the run is asleep, then stop the engine
    const deadline = Date.now() + 5_000;
    while (!(await a.engine.getRun(run!.id))?.steps.some((s) => s.status === "Sleeping") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await a.engine.close();
    expect(effects).toEqual(["before"]);

    const second = define();
    const b = await startEngine({ database, client: second.c, functions: [second.fn] });
    const done = await b.engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toBe("woke");
    expect(effects).toEqual(["before", "after"]);
  });

  it("close() lets an in-flight step finish and commit", async () => {
    const database = join(tempDir(), "graceful.db");
    const c = new Stepwise({ id: "g", logger: silentLogger });
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fn = c.createFunction({ id: "slow" }, { event: "g/go" }, async ({ step }) => {
      await step.run("slow", async () => {
        release();
        await new Promise((r) => setTimeout(r, 200));
        return "finished";
      });
      await step.sleep("then-wait", "1h");
    });
    const { engine } = await startEngine({ database, client: c, functions: [fn] });
    const { ids } = await c.send({ name: "g/go" });
    await started;
    const [run] = await runsOf(engine, ids[0]);
    await engine.close();
    const reopened = await startEngine({ database, client: new Stepwise({ id: "g", logger: silentLogger }) });
    const after = await reopened.engine.getRun(run!.id);
    expect(after?.steps.map((s) => [s.name, s.status])).toEqual([
      ["slow", "Completed"],
      ["then-wait", "Sleeping"],
    ]);
  });

  it("waitForRun times out with a clear error", async () => {
    const c = new Stepwise({ id: "w", logger: silentLogger });
    const fn = c.createFunction({ id: "forever" }, { event: "w/go" }, async ({ step }) => step.sleep("long", "1d"));
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send({ name: "w/go" });
    const [run] = await runsOf(engine, ids[0]);
    await expect(engine.waitForRun(run!.id, { timeoutMs: 100 })).rejects.toThrow(`waitForRun: run ${run!.id} did not end within 100 ms`);
    await expect(engine.waitForRun("missing", { timeoutMs: 100 })).rejects.toThrow(/no run with id missing/);
  });
});
