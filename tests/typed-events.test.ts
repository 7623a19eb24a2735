/**
 * Runtime side of typed events: `eventType` schemas are checked on send (the client's
 * `send` and `step.sendEvent`) and on receive (before the handler runs). A refused send
 * stores nothing; a refused event fails its run without retries.
 */
import { type } from "arktype";
import { EventSchemas, EventValidationError, eventType, Inngest, type StepError, Stepwise, silentLogger, staticSchema } from "stepwise";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { pollUntil, runsOf, sendAndWait, startEngine } from "./helpers.ts";

const userSignup = eventType("app/user.signup", {
  schema: z.object({ email: z.email(), profile: z.object({ age: z.number().int().min(0) }) }),
});
const good = { email: "ada@example.com", profile: { age: 36 } };

async function setup() {
  const client = new Stepwise({ id: "typed", logger: silentLogger });
  const seen: unknown[] = [];
  const welcome = client.createFunction({ id: "welcome", retries: 3, triggers: [userSignup] }, async ({ event }) => {
    seen.push(event.data);
    return `welcome ${event.data.email}`;
  });
  const { engine } = await startEngine({ database: ":memory:", client, functions: [welcome] });
  return { client, engine, seen };
}

describe("validation on send", () => {
  it("sends a valid created event and the handler receives its data", async () => {
    const { client, engine, seen } = await setup();
    const { ids } = await client.send(userSignup.create(good));
    const [run] = await runsOf(engine, ids[0]);
    const done = await engine.waitForRun(run!.id);
    expect(done).toMatchObject({ status: "Completed", output: "welcome ada@example.com" });
    expect(seen).toEqual([good]);
  });

  it("refuses a bad created event with an EventValidationError naming the field, and stores nothing", async () => {
    const { client, engine } = await setup();
    const error = await client.send(userSignup.create({ email: "not-an-email", profile: { age: 3 } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventValidationError);
    expect((error as Error).message).toMatch(/^send: event: event "app\/user.signup" is invalid: data\.email: /);
    expect(await engine.store.listEvents({ limit: 10 })).toEqual([]);
    expect(await engine.listRuns({})).toEqual([]);
  });

  it("names nested fields and the index in a batch, and stores none of the batch", async () => {
    const { client, engine } = await setup();
    const error = await client
      .send([userSignup.create(good), userSignup.create({ email: "b@example.com", profile: { age: -1 } })])
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(EventValidationError);
    expect((error as Error).message).toMatch(/^send: events\[1\]: event "app\/user.signup" is invalid: data\.profile\.age: /);
    expect(await engine.store.listEvents({ limit: 10 })).toEqual([]);
  });

  it("checks a plain { name, data } event named like a trigger event type of the client's functions", async () => {
    const { client, engine } = await setup();
    await expect(client.send({ name: "app/user.signup", data: { email: "nope", profile: { age: 1 } } })).rejects.toThrow(/data\.email: /);
    await expect(client.send({ name: "app/user.signup", data: {} })).rejects.toThrow(/data\.email: .*data\.profile: /);
    expect(await engine.store.listEvents({ limit: 10 })).toEqual([]);
    // Other names are not checked.
    await client.send({ name: "app/other", data: { anything: true } });
    expect(await engine.store.listEvents({ limit: 10 })).toHaveLength(1);
  });

  it("validate() on a created event rejects naming the field, and resolves for good data", async () => {
    await expect(userSignup.create({ email: "x", profile: { age: 1 } }).validate()).rejects.toThrow(EventValidationError);
    await expect(userSignup.create({ email: "x", profile: { age: 1 } }).validate()).rejects.toThrow(/data\.email: /);
    await expect(userSignup.create(good).validate()).resolves.toBeUndefined();
  });

  it("created events serialize as plain events (no validate, no schema)", () => {
    const created = userSignup.create(good, { id: "dedupe-1", ts: 1_700_000_000_000 });
    expect(JSON.parse(JSON.stringify(created))).toEqual({ name: "app/user.signup", data: good, id: "dedupe-1", ts: 1_700_000_000_000 });
    expect(eventType("app/v", { version: "2024-01-01" }).create().v).toBe("2024-01-01");
  });

  it("validates with Valibot and ArkType schemas too, and staticSchema passes anything", async () => {
    const counted = eventType("app/counted", { schema: v.object({ count: v.number() }) });
    const flagged = eventType("app/flagged", { schema: type({ flag: "boolean" }) });
    const loose = eventType("app/loose", { schema: staticSchema<{ n: number }>() });
    await expect(counted.create({ count: "3" as unknown as number }).validate()).rejects.toThrow(/data\.count: /);
    await expect(flagged.create({ flag: "yes" as unknown as boolean }).validate()).rejects.toThrow(/data\.flag: /);
    await expect(loose.create({ n: "not a number" as unknown as number }).validate()).resolves.toBeUndefined();
  });

  it("step.sendEvent in-process refuses a bad event: the step fails without retries and nothing is stored", async () => {
    const client = new Stepwise({ id: "typed", logger: silentLogger });
    let attempts = 0;
    const fanOut = client.createFunction({ id: "fan-out", retries: 3, triggers: [{ event: "app/start" }] }, async ({ step }) => {
      try {
        await step.sendEvent("emit", [userSignup.create(good), userSignup.create({ email: "bad", profile: { age: 1 } })]);
      } catch (error) {
        attempts++;
        return { name: (error as StepError).name, cause: ((error as StepError).cause as Error).message };
      }
      return "sent";
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fanOut] });
    const run = await sendAndWait(engine, client, { name: "app/start" });
    expect(run.status).toBe("Completed");
    expect(run.output).toMatchObject({ name: "StepError" });
    expect((run.output as { cause: string }).cause).toMatch(/^step\.sendEvent\("emit"\): events\[1\]: event "app\/user.signup" is invalid: data\.email: /);
    expect(attempts).toBe(1);
    expect(await engine.store.listEvents({ name: "app/user.signup", limit: 10 })).toEqual([]);
  });
});

describe("validation on receive", () => {
  it("fails the run with a NonRetriable EventValidationError naming the field before the handler runs", async () => {
    const { engine, seen } = await setup();
    // The engine's own send does not know the client's schemas: the event is stored.
    const { ids } = await engine.send({ name: "app/user.signup", data: { email: "ada@example.com", profile: { age: "old" } } });
    const [run] = await runsOf(engine, ids[0]);
    const done = await engine.waitForRun(run!.id);
    expect(done.status).toBe("Failed");
    expect(done.error?.name).toBe("EventValidationError");
    expect(done.error?.message).toMatch(/^received event: event "app\/user.signup" is invalid: data\.profile\.age: /);
    expect(seen).toEqual([]);
  });

  it("does not retry a refused event, though the function has retries", async () => {
    let checks = 0;
    const counting = eventType("app/counted", {
      schema: {
        "~standard": {
          version: 1,
          vendor: "test",
          validate: () => {
            checks++;
            return { issues: [{ message: "never valid", path: ["field"] }] };
          },
        },
      },
    });
    const client = new Stepwise({ id: "typed", logger: silentLogger });
    let ran = 0;
    const fn = client.createFunction({ id: "never", retries: 3, triggers: [counting] }, async () => ++ran);
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const { ids } = await engine.send({ name: "app/counted", data: { field: 1 } });
    const [run] = await runsOf(engine, ids[0]);
    const done = await engine.waitForRun(run!.id);
    expect(done.status).toBe("Failed");
    expect(done.error?.message).toMatch(/data\.field: never valid/);
    expect(checks).toBe(1);
    expect(ran).toBe(0);
  });

  it("checks v4's { event, schema } triggers too, and keeps the schema out of the config", async () => {
    const client = new Stepwise({ id: "typed", logger: silentLogger });
    const fn = client.createFunction(
      { id: "plain", retries: 2, triggers: [{ event: "app/plain", schema: z.object({ n: z.number() }) }] },
      async ({ event }) => event.data.n,
    );
    expect(fn.config.triggers).toEqual([{ event: "app/plain" }]);
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    await expect(client.send({ name: "app/plain", data: { n: "1" } })).rejects.toThrow(/^send: event: event "app\/plain" is invalid: data\.n: /);
    const ok = await sendAndWait(engine, client, { name: "app/plain", data: { n: 1 } });
    expect(ok).toMatchObject({ status: "Completed", output: 1 });
    const { ids } = await engine.send({ name: "app/plain", data: { n: "x" } });
    const [run] = await runsOf(engine, ids[0]);
    const bad = await engine.waitForRun(run!.id);
    expect(bad.status).toBe("Failed");
    expect(bad.error?.message).toMatch(/data\.n: /);
  });

  it("step.waitForEvent with an event type checks the event it receives", async () => {
    const client = new Stepwise({ id: "typed", logger: silentLogger });
    const orderPaid = eventType("app/order.paid", { schema: z.object({ orderId: z.string(), cents: z.number() }) });
    const fn = client.createFunction({ id: "waiter", retries: 0, triggers: [{ event: "app/order.placed" }] }, async ({ step }) => {
      const paid = await step.waitForEvent("paid", { event: orderPaid, timeout: "1h" });
      return paid?.data.cents;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const { ids } = await client.send({ name: "app/order.placed" });
    const [run] = await runsOf(engine, ids[0]);
    await pollUntil(
      () => engine.getRun(run!.id),
      (r) => r?.steps.some((s) => s.status === "Waiting") ?? false,
    );
    await engine.send({ name: "app/order.paid", data: { orderId: "o1", cents: "a lot" } });
    const done = await engine.waitForRun(run!.id);
    expect(done.status).toBe("Failed");
    expect(done.error?.message).toMatch(/step\.waitForEvent\("paid"\): event "app\/order.paid" is invalid: data\.cents: /);
  });
});

describe("EventSchemas (v3) are types only, as in Inngest", () => {
  it("accepts the schemas option and sends without runtime checks", async () => {
    const schemas = new EventSchemas().fromZod({ "app/typed": { data: z.object({ n: z.number() }) } }).fromRecord<{ "app/r": { data: { s: string } } }>();
    const client = new Inngest({ id: "v3", logger: silentLogger, schemas });
    expect(client.schemas).toBe(schemas);
    const fn = client.createFunction({ id: "v3" }, { event: "app/typed" }, async ({ event }) => event.data.n);
    // The helpers take an untyped client (`Stepwise`); a typed one is a `Stepwise<typeof schemas>`.
    const untyped = client as unknown as Stepwise;
    const { engine } = await startEngine({ database: ":memory:", client: untyped, functions: [fn] });
    const run = await sendAndWait(engine, untyped, { name: "app/typed", data: { n: 7 } });
    expect(run).toMatchObject({ status: "Completed", output: 7 });
  });

  it("an eventType trigger is stored in the config as a plain { event } trigger", () => {
    const client = new Stepwise({ id: "cfg", logger: silentLogger });
    const fn = client.createFunction({ id: "cfg", triggers: [userSignup, { event: userSignup, if: "event.data.profile.age > 17" }] }, async () => null);
    expect(fn.config.triggers).toEqual([{ event: "app/user.signup" }, { event: "app/user.signup", if: "event.data.profile.age > 17" }]);
  });
});
