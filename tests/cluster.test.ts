/**
 * Two engines on one database, as two nodes (here two processes' worth of connections to
 * one SQLite file): what one node decides, the other sees.
 */
import { join } from "node:path";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine } from "stepwise/engine";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function node(database: string) {
  const client = new Stepwise({ id: "cl", logger: silentLogger });
  const fn = client.createFunction({ id: "job" }, { event: "cl/job" }, async () => "done");
  const engine = await createEngine({ database, logger: silentLogger, pollMs: 20 });
  engine.register({ client, functions: [fn] });
  await engine.start();
  engines.push(engine);
  return { engine, client };
}

describe("two nodes on one database", () => {
  it("a function paused on one node starts no runs from events sent to the other, and resumes everywhere", async () => {
    const database = join(tempDir(), "cluster.db");
    const a = await node(database);
    const b = await node(database);
    await a.engine.pause("cl-job");
    const held = await b.client.send({ name: "cl/job" });
    // the send has committed: the run it would have started does not exist
    expect(await b.engine.listRuns({ eventId: held.ids[0] })).toEqual([]);
    expect(await b.engine.pausedFunctions()).toEqual(new Set(["cl-job"]));
    expect(await b.engine.eventOutcome((await b.engine.store.getEvent(held.ids[0]!))!)).toBe("every matching function is paused");
    // an invoke still starts a run of the paused function
    const invoked = await b.engine.invoke("cl-job");
    expect((await b.engine.waitForRun(invoked.runId, { timeoutMs: 5_000 })).status).toBe("Completed");

    await a.engine.resume("cl-job");
    const sent = await b.client.send({ name: "cl/job" });
    const [run] = await b.engine.listRuns({ eventId: sent.ids[0] });
    expect((await b.engine.waitForRun(run!.id, { timeoutMs: 5_000 })).output).toBe("done");
  });
});
