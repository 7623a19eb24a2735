/**
 * Cron triggers with time zones, driven by a manual clock: one run per tick, none twice
 * across restarts, a tick missed by less than a minute still fires, older ones are skipped.
 */
import { join } from "node:path";
import { type Logger, Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { startEngine, tempDir } from "./helpers.ts";

function define() {
  const c = new Stepwise({ id: "cron", logger: silentLogger });
  const report = c.createFunction({ id: "daily-report" }, { cron: "TZ=Europe/Paris 0 9 * * *" }, async ({ event }) => ({
    name: event.name,
    cron: event.data.cron,
  }));
  return { c, report };
}

async function settle(check: () => Promise<boolean>) {
  const deadline = Date.now() + 5_000;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

describe("cron", () => {
  it("fires once per tick in its time zone, and not again after a restart", async () => {
    const database = join(tempDir(), "cron.db");
    // 08:59:30 in Paris (UTC+1 in March)
    const clock = createManualClock(Date.parse("2026-03-02T07:59:30Z"));
    const first = define();
    const a = await startEngine({ database, client: first.c, functions: [first.report], clock });
    expect(await a.engine.listRuns({})).toHaveLength(0);

    clock.set(Date.parse("2026-03-02T08:00:00Z"));
    await settle(async () => (await a.engine.listRuns({}))[0]?.status === "Completed");
    const runs = await a.engine.listRuns({});
    expect(runs).toHaveLength(1);
    expect(runs[0]?.output).toEqual({ name: "inngest/scheduled.timer", cron: "TZ=Europe/Paris 0 9 * * *" });

    clock.advance(20_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.engine.listRuns({})).toHaveLength(1);
    await a.engine.close();

    // restart within the same minute: the tick already fired
    const second = define();
    const b = await startEngine({ database, client: second.c, functions: [second.report], clock: createManualClock(Date.parse("2026-03-02T08:00:40Z")) });
    await new Promise((r) => setTimeout(r, 50));
    expect(await b.engine.listRuns({})).toHaveLength(1);
    await b.engine.close();
  });

  it("fires a tick missed by less than a minute once, and skips an older one with a warning", async () => {
    const database = join(tempDir(), "cron-missed.db");
    const first = define();
    const a = await startEngine({ database, client: first.c, functions: [first.report], clock: createManualClock(Date.parse("2026-03-02T07:00:00Z")) });
    await a.engine.close();

    // down across 09:00 Paris, back 40 s later: the tick fires once
    const second = define();
    const b = await startEngine({ database, client: second.c, functions: [second.report], clock: createManualClock(Date.parse("2026-03-02T08:00:40Z")) });
    await settle(async () => (await b.engine.listRuns({})).length === 1);
    expect(await b.engine.listRuns({})).toHaveLength(1);
    await b.engine.close();

    // down across the next day's tick for 5 minutes: skipped, and said so
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    const third = define();
    const c = await startEngine({ database, client: third.c, functions: [third.report], logger, clock: createManualClock(Date.parse("2026-03-03T08:05:00Z")) });
    await new Promise((r) => setTimeout(r, 50));
    expect(await c.engine.listRuns({})).toHaveLength(1);
    expect(warnings.join("\n")).toMatch(/missed its tick at 2026-03-03T08:00:00.000Z .*skipping to 2026-03-04T08:00:00.000Z/);
  });
});
