/**
 * `group.parallel({ mode: "race" }, …)` in-process: the first branch to settle wins, the
 * handler continues at once, and branches that had not settled are shown as abandoned.
 * Includes a regression test for a race-mode bug reported against Inngest
 * (inngest/inngest#4897: a branch executed twice): every branch body runs at most once.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { group, Stepwise, silentLogger } from "stepwise";
import { afterAll, describe, expect, it } from "vitest";
import { sendAndWait, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "race", logger: silentLogger });

describe("group.parallel race mode", () => {
  it("continues with the first branch to settle and marks the pending one abandoned", async () => {
    const c = client();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let slowEnded = false;
    const fn = c.createFunction({ id: "first-wins" }, { event: "race/first" }, async ({ step }) => {
      const winner = await group.parallel({ mode: "race" }, () =>
        Promise.race([
          step.run("fast", () => "fast"),
          step.run("slow", async () => {
            await gate;
            slowEnded = true;
            return "slow";
          }),
        ]),
      );
      const after = await step.run("after", () => `after ${winner}`);
      return { winner, after };
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "race/first" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ winner: "fast", after: "after fast" });
    const status = Object.fromEntries(run.steps.map((s) => [s.name, s.status]));
    expect(status).toEqual({ fast: "Completed", slow: "Abandoned", after: "Completed" });
    // the abandoned branch finishing late writes nothing
    release();
    await until(() => slowEnded);
    await new Promise((r) => setImmediate(r));
    const later = await engine.getRun(run.id);
    expect(later?.status).toBe("Completed");
    expect(later?.steps.find((s) => s.name === "slow")?.status).toBe("Abandoned");
  });

  it("marks race ops with parallelMode, as the official SDK does, and runs no race branch inline", async () => {
    const c = client();
    const fn = c.createFunction({ id: "lone" }, { event: "race/lone" }, async ({ step }) => {
      return group.parallel(() => Promise.race([step.run("only", () => 1)]));
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "race/lone" });
    expect(run.output).toBe(1);
    expect(run.steps.map((s) => [s.name, s.status])).toEqual([["only", "Completed"]]);
  });

  it("takes group from the handler's context and parallelMode per step, as the official SDK does", async () => {
    const c = client();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fn = c.createFunction({ id: "ctx-group" }, { event: "race/ctx" }, async ({ step, group: g }) => {
      const viaGroup = await g.parallel(() => Promise.race([step.run("g-slow", () => gate.then(() => "g-slow")), step.run("g-fast", () => "g-fast")]));
      const viaOption = await Promise.race([
        step.run({ id: "o-slow", parallelMode: "race" }, () => gate.then(() => "o-slow")),
        step.run({ id: "o-fast", parallelMode: "race" }, () => "o-fast"),
      ]);
      return [viaGroup, viaOption];
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "race/ctx" });
    release();
    expect(run.output).toEqual(["g-fast", "o-fast"]);
    expect(Object.fromEntries(run.steps.map((s) => [s.name, s.status]))).toEqual({
      "g-slow": "Abandoned",
      "g-fast": "Completed",
      "o-slow": "Abandoned",
      "o-fast": "Completed",
    });
  });

  it("does not lose a branch that settles while the discovery after the first one is running", async () => {
    const c = client();
    const fn = c.createFunction({ id: "catch-then-wait" }, { event: "race/catch" }, async ({ step }) => {
      // every call takes a while, so "slow" settles while the discovery after "fails" runs
      await new Promise((r) => setTimeout(r, 100));
      let slow: Promise<string> | undefined;
      try {
        await group.parallel(() => {
          slow = step.run("slow", async () => {
            await new Promise((r) => setTimeout(r, 30));
            return "slow";
          });
          return Promise.race([
            step.run({ id: "fails", retries: 0 }, () => {
              throw new Error("first to settle");
            }),
            slow,
          ]);
        });
        return "unexpected";
      } catch {
        return await (slow as Promise<string>);
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn], leaseMs: 1_000 });
    const run = await sendAndWait(engine, c, { name: "race/catch" });
    expect(run).toMatchObject({ status: "Completed", output: "slow" });
    expect(Object.fromEntries(run.steps.map((s) => [s.name, s.status]))).toEqual({ slow: "Completed", fails: "Failed" });
  });

  it("rejects a mode other than race, naming the field", async () => {
    await expect(group.parallel({ mode: "all" as "race" }, async () => 1)).rejects.toThrow(/"mode" must be "race"/);
    await expect(group.parallel({}, undefined as unknown as () => number)).rejects.toThrow(/callback/);
  });

  it("runs every branch body at most once over 10 race runs (inngest/inngest#4897)", async () => {
    const c = client();
    const executions = new Map<string, number>();
    const count = (key: string) => executions.set(key, (executions.get(key) ?? 0) + 1);
    const fn = c.createFunction({ id: "ten" }, { event: "race/ten" }, async ({ event, step }) => {
      const n = String(event.data.n);
      const winner = await group.parallel({ mode: "race" }, () =>
        Promise.race(
          ["a", "b", "c"].map((b, i) =>
            step.run(b, async () => {
              count(`${n}:${b}`);
              await new Promise((r) => setTimeout(r, 5 * i));
              return b;
            }),
          ),
        ),
      );
      await step.run("tail", () => count(`${n}:tail`));
      return winner;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const runs = await Promise.all(Array.from({ length: 10 }, (_, n) => sendAndWait(engine, c, { name: "race/ten", data: { n } })));
    for (const run of runs) {
      expect(run.status).toBe("Completed");
      expect(["a", "b", "c"]).toContain(run.output);
      for (const s of run.steps) expect(["Completed", "Abandoned"]).toContain(s.status);
    }
    expect(executions.size).toBeGreaterThanOrEqual(20);
    for (const [key, times] of executions) expect({ key, times }).toEqual({ key, times: 1 });
    for (let n = 0; n < 10; n++) expect(executions.get(`${n}:tail`)).toBe(1);
  });
});

describe("race mode served by the official inngest SDK", () => {
  let stepwise: RunningServer | undefined;
  let app: Server | undefined;
  afterAll(async () => {
    await stepwise?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it("discovers after the first race op completes, abandons the rest, and runs each body at most once over 10 runs", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const inngest = new Inngest({ id: "race-compat", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const executions = new Map<string, number>();
    const count = (key: string) => executions.set(key, (executions.get(key) ?? 0) + 1);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fn = inngest.createFunction({ id: "race", triggers: [{ event: "compat/race" }] }, async ({ event, step, group: g }) => {
      const n = String(event.data.n);
      const winner = await g.parallel({ mode: "race" }, () =>
        Promise.race([
          step.run("quick", () => {
            count(`${n}:quick`);
            return "quick";
          }),
          step.run("stuck", async () => {
            count(`${n}:stuck`);
            await gate;
            return "stuck";
          }),
        ]),
      );
      await step.run("tail", () => count(`${n}:tail`));
      return winner;
    });
    app = createServer(serve({ client: inngest, functions: [fn] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
    expect(record.error).toBeUndefined();
    const server = stepwise;
    const runs = await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const { ids } = await inngest.send({ name: "compat/race", data: { n } });
        let runId: string | undefined;
        await until(async () => {
          runId = (await server.engine.listRuns({ eventId: ids[0] as string }))[0]?.id;
          return runId !== undefined;
        });
        return server.engine.waitForRun(runId as string, { timeoutMs: 20_000 });
      }),
    );
    for (const run of runs) {
      expect(run.status).toBe("Completed");
      expect(run.output).toBe("quick");
      expect(Object.fromEntries(run.steps.map((s) => [s.name, s.status]))).toEqual({ quick: "Completed", stuck: "Abandoned", tail: "Completed" });
    }
    release();
    for (let n = 0; n < 10; n++) {
      expect(executions.get(`${n}:quick`)).toBe(1);
      expect(executions.get(`${n}:tail`)).toBe(1);
      expect(executions.get(`${n}:stuck`) ?? 0).toBeLessThanOrEqual(1);
    }
    for (const [key, times] of executions) expect({ key, times }).toEqual({ key, times: 1 });
  }, 60_000);
});
