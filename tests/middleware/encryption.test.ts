/**
 * End-to-end interop of `encryptionMiddleware` with the official
 * `@inngest/middleware-encryption`, on a Stepwise dev server backed by a SQLite file:
 * - an event sent by the official `Inngest` client (official middleware, an old key) is
 *   decrypted in a Stepwise function running in-process (our middleware, the new key with
 *   the old one as fallback); its step results and output are encrypted at rest (read
 *   from the SQLite rows) and the official middleware reads them;
 * - an event that function sends with `step.sendEvent` (our middleware) is decrypted by a
 *   function of the official SDK served over HTTP, whose encrypted step output we read.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encryptionMiddleware as officialMiddleware } from "@inngest/middleware-encryption";
import { type RunningServer, runServer } from "@stepwise/cli";
import Database from "better-sqlite3";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { Encryptor, encryptionMiddleware, isEncryptedValue, Stepwise, silentLogger } from "stepwise";
import { serve as serveStepwise } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, startEngine } from "../helpers.ts";

const CARD = "4242 4242 4242 4242";
const quiet = { info() {}, warn() {}, error() {}, debug() {} };

let dir: string;
let dbPath: string;
let stepwise: RunningServer;
let app: Server;
let servedApp: Server;
let officialSender: Inngest;
const seenByStepwise: unknown[] = [];
const seenByOfficial: unknown[] = [];

/**
 * The official middleware for an official client. It is a CommonJS package, so its types
 * name the .d.cts copy of `inngest`; the cast bridges the two copies of the same types.
 */
function officialFor(key: string) {
  return officialMiddleware({ key }) as never;
}

/** The official middleware's decryption, as its SDK applies it to a memoized step. */
async function officialDecrypt(value: unknown, key = "new-key"): Promise<unknown> {
  const Class = officialMiddleware({ key });
  // The official package is CommonJS, so its `Inngest` type is the .d.cts copy.
  const mw = new Class({ client: officialSender } as never);
  return mw.wrapStep?.({ next: async () => value } as never);
}

/** Rows of the dev server's SQLite file (or of `file`), read as stored. */
function rows<T>(sql: string, ...params: unknown[]): T[] {
  return rowsOf(dbPath, sql, ...params);
}

function rowsOf<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

async function runOf(eventId: string | undefined, functionId: string) {
  const runs = await pollUntil(
    () => stepwise.engine.listRuns({ eventId: eventId as string }),
    (found) => found.some((r) => r.functionId === functionId),
  );
  const run = runs.find((r) => r.functionId === functionId);
  if (!run) throw new Error(`no run of ${functionId} for event ${eventId}`);
  return stepwise.engine.waitForRun(run.id, { timeoutMs: 15_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "stepwise-encryption-"));
  dbPath = join(dir, "stepwise.db");

  const client = new Stepwise({
    id: "vault",
    logger: silentLogger,
    middleware: [encryptionMiddleware({ key: "new-key", fallbackDecryptionKeys: ["old-key"] })],
  });
  const profile = client.createFunction({ id: "profile", triggers: [{ event: "vault/profile" }] }, async ({ event, step }) => {
    seenByStepwise.push(event.data);
    const card = await step.run("card", () => {
      const secret = event.data.encrypted as { card: string };
      return { full: secret.card, last4: secret.card.slice(-4) };
    });
    // A sleep ends the call: "echo" runs in a later call, from the memoized (encrypted) "card".
    await step.sleep("nap", "50ms");
    const echoed = await step.run("echo", () => `card ${card.full}`);
    await step.sleep("nap-again", "50ms");
    await step.sendEvent("forward", { name: "vault/forwarded", data: { encrypted: { card: card.full }, note: "plain" } });
    return { last4: card.last4, echoed };
  });

  stepwise = await runServer({
    mode: "dev",
    port: 0,
    db: dbPath,
    logRuns: false,
    retryDelayScale: 0.01,
    logger: silentLogger,
    inProcess: { client, functions: [profile] },
  });

  officialSender = new Inngest({ id: "sender", isDev: true, baseUrl: stepwise.url, logger: quiet, middleware: [officialFor("old-key")] });

  const officialApp = new Inngest({
    id: "official-app",
    isDev: true,
    baseUrl: stepwise.url,
    logger: quiet,
    middleware: [officialFor("new-key")],
  });
  const forwarded = officialApp.createFunction({ id: "forwarded", triggers: [{ event: "vault/forwarded" }] }, async ({ event, step }) => {
    seenByOfficial.push(event.data);
    return step.run("keep", () => ({ kept: (event.data.encrypted as { card: string }).card }));
  });
  app = createServer(serve({ client: officialApp, functions: [forwarded] }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();

  // The Stepwise SDK served over HTTP, with our middleware: every step is a round trip.
  const servedClient = new Stepwise({
    id: "served-vault",
    isDev: true,
    baseUrl: stepwise.url,
    logger: silentLogger,
    middleware: [encryptionMiddleware({ key: "new-key", fallbackDecryptionKeys: ["old-key"] })],
  });
  const servedFn = servedClient.createFunction({ id: "pair", triggers: [{ event: "vault/served" }] }, async ({ event, step }) => {
    const card = await step.run("read", () => (event.data.encrypted as { card: string }).card);
    const masked = await step.run("mask", () => `**** ${card.slice(-4)}`);
    return { masked, length: card.length };
  });
  servedApp = createServer(serveStepwise({ client: servedClient, functions: [servedFn] }));
  await new Promise<void>((resolve) => servedApp.listen(0, "127.0.0.1", () => resolve()));
  const servedRecord = await stepwise.server.apps.sync(`http://127.0.0.1:${(servedApp.address() as { port: number }).port}/api/inngest`);
  expect(servedRecord.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (servedApp ? servedApp.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("encryption middleware end to end", () => {
  it("official client → Stepwise function: decrypted for the handler, encrypted at rest, readable by the official middleware", async () => {
    const { ids } = await officialSender.send({ name: "vault/profile", data: { encrypted: { card: CARD }, plan: "pro" } });

    // The event is stored as the official client encrypted it.
    const [eventRow] = rows<{ data: string }>("SELECT data FROM events WHERE id = ?", ids[0]);
    expect(eventRow?.data).toBeDefined();
    expect(eventRow?.data).not.toContain("4242");
    const storedData = JSON.parse(eventRow?.data ?? "{}");
    expect(storedData.plan).toBe("pro");
    expect(storedData.encrypted).toMatchObject({ __ENCRYPTED__: true, __STRATEGY__: "inngest/libsodium" });

    const run = await runOf(ids[0], "vault-profile");
    expect(run.status).toBe("Completed");
    // Sent with the old key, read through fallbackDecryptionKeys, in every call of the run
    // (the first, and the one after the sleep).
    expect(seenByStepwise.length).toBeGreaterThanOrEqual(2);
    for (const seen of seenByStepwise) expect(seen).toEqual({ encrypted: { card: CARD }, plan: "pro" });

    // Step results and the output are encrypted in the SQLite rows, with the new key.
    const stepRows = rows<{ name: string; output: string | null }>("SELECT name, output FROM steps WHERE run_id = ? ORDER BY seq", run.id);
    const outputs = Object.fromEntries(stepRows.map((r) => [r.name, r.output === null ? null : JSON.parse(r.output)]));
    for (const name of ["card", "echo"]) {
      expect(isEncryptedValue(outputs[name]), name).toBe(true);
      expect(JSON.stringify(outputs[name])).not.toContain("4242");
    }
    const [runRow] = rows<{ output: string }>("SELECT output FROM runs WHERE id = ?", run.id);
    expect(runRow?.output).not.toContain("4242");
    expect(isEncryptedValue(JSON.parse(runRow?.output ?? "null"))).toBe(true);

    // The official middleware reads them; "echo" proves the handler saw "card" decrypted from memo.
    expect(await officialDecrypt(outputs.card)).toEqual({ full: CARD, last4: "4242" });
    expect(await officialDecrypt(outputs.echo)).toBe(`card ${CARD}`);
    expect(await officialDecrypt(JSON.parse(runRow?.output ?? "null"))).toEqual({ last4: "4242", echoed: `card ${CARD}` });
    expect(run.output).toEqual(JSON.parse(runRow?.output ?? "null"));
    await expect(officialDecrypt(outputs.card, "old-key")).rejects.toThrow();

    // step.sendEvent went through our middleware: the forwarded event is encrypted at rest…
    const forwardedRows = await pollUntil(
      async () => rows<{ id: string; data: string }>("SELECT id, data FROM events WHERE name = 'vault/forwarded'"),
      (found) => found.length === 1,
    );
    expect(forwardedRows).toHaveLength(1);
    expect(forwardedRows[0]?.data).not.toContain("4242");
    expect(JSON.parse(forwardedRows[0]?.data ?? "{}").note).toBe("plain");

    // …and decrypted by the official SDK's function, whose own step output we read back.
    const officialRun = await runOf(forwardedRows[0]?.id, "official-app-forwarded");
    expect(officialRun.status).toBe("Completed");
    // (once per request: the official SDK is called again after its step ran).
    expect(seenByOfficial.length).toBeGreaterThanOrEqual(1);
    for (const seen of seenByOfficial) expect(seen).toEqual({ encrypted: { card: CARD }, note: "plain" });
    const [keepRow] = rows<{ output: string }>("SELECT output FROM steps WHERE run_id = ? AND name = 'keep'", officialRun.id);
    expect(keepRow?.output).not.toContain("4242");
    expect(await new Encryptor({ key: "new-key" }).decryptValue(JSON.parse(keepRow?.output ?? "null"))).toEqual({ kept: CARD });
  }, 30_000);

  it("official client → Stepwise function served over HTTP: the same, one step per request", async () => {
    const { ids } = await officialSender.send({ name: "vault/served", data: { encrypted: { card: CARD } } });
    const run = await runOf(ids[0], "served-vault-pair");
    expect(run.status).toBe("Completed");
    const stepRows = rows<{ name: string; output: string }>("SELECT name, output FROM steps WHERE run_id = ? ORDER BY seq", run.id);
    expect(stepRows.map((r) => r.name)).toEqual(["read", "mask"]);
    for (const row of stepRows) {
      expect(row.output).not.toContain("4242");
      expect(isEncryptedValue(JSON.parse(row.output))).toBe(true);
    }
    expect(await officialDecrypt(JSON.parse(stepRows[1]?.output ?? "null"))).toBe("**** 4242");
    expect(await officialDecrypt(run.output)).toEqual({ masked: "**** 4242", length: CARD.length });
  }, 30_000);
});

describe("encryption middleware in-process", () => {
  it("a step's result reaches the handler decrypted when the run continues in the same call", async () => {
    const client = new Stepwise({ id: "same-call", logger: silentLogger, middleware: [encryptionMiddleware({ key: "k" })] });
    const fn = client.createFunction({ id: "chain", triggers: [{ event: "same-call/go" }] }, async ({ step }) => {
      const first = await step.run("first", () => ({ n: 20 }));
      const second = await step.run("second", () => first.n + 1);
      return { first, second };
    });
    const { engine } = await startEngine({ client, functions: [fn] });
    const { ids } = await client.send({ name: "same-call/go" });
    const [queued] = await engine.listRuns({ eventId: ids[0] as string });
    const run = await engine.waitForRun(queued?.id as string, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    for (const s of run.steps) expect(isEncryptedValue(s.output), s.name).toBe(true);
    expect(await officialDecrypt(run.steps.find((s) => s.name === "second")?.output, "k")).toBe(21);
    expect(await officialDecrypt(run.output, "k")).toEqual({ first: { n: 20 }, second: 21 });
  });

  it("step.invoke: the invoked function's output is encrypted at rest and reaches the caller decrypted", async () => {
    const client = new Stepwise({ id: "invoker", logger: silentLogger, middleware: [encryptionMiddleware({ key: "k" })] });
    const child = client.createFunction({ id: "child", triggers: [] }, async ({ event }) => ({
      doubled: (event.data.encrypted as { n: number }).n * 2,
    }));
    const parent = client.createFunction({ id: "parent", triggers: [{ event: "invoker/go" }] }, async ({ step }) => {
      const data = await new Encryptor({ key: "k" }).encryptEventData({ encrypted: { n: 21 } });
      const result = await step.invoke("call-child", { function: child, data });
      return { got: (result as { doubled: number }).doubled };
    });
    const { engine } = await startEngine({ client, functions: [child, parent] });
    const { ids } = await client.send({ name: "invoker/go" });
    const [queued] = await engine.listRuns({ eventId: ids[0] as string });
    const run = await engine.waitForRun(queued?.id as string, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    const invokeStep = run.steps.find((s) => s.name === "call-child");
    expect(isEncryptedValue(invokeStep?.output)).toBe(true);
    expect(await officialDecrypt(invokeStep?.output, "k")).toEqual({ doubled: 42 });
    expect(await officialDecrypt(run.output, "k")).toEqual({ got: 42 });
  });

  it("an event no key opens fails the run with an error naming the strategy, not the data", async () => {
    const client = new Stepwise({ id: "locked", logger: silentLogger, middleware: [encryptionMiddleware({ key: "mine", fallbackDecryptionKeys: ["older"] })] });
    let handlerRan = false;
    const fn = client.createFunction({ id: "open", retries: 0, triggers: [{ event: "locked/go" }] }, async () => {
      handlerRan = true;
    });
    const { engine } = await startEngine({ client, functions: [fn] });
    const data = await new Encryptor({ key: "someone-else" }).encryptEventData({ encrypted: { secret: "s3cr3t" } });
    const { ids } = await engine.send({ name: "locked/go", data });
    const [queued] = await engine.listRuns({ eventId: ids[0] as string });
    const run = await engine.waitForRun(queued?.id as string, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toContain("inngest/libsodium: could not decrypt the value with any of 2 keys");
    expect(JSON.stringify(run.error)).not.toContain("s3cr3t");
    expect(handlerRan).toBe(false);
  });

  it("decryptOnly reads encrypted events but stores results in the clear", async () => {
    const client = new Stepwise({ id: "reader", logger: silentLogger, middleware: [encryptionMiddleware({ key: "k", decryptOnly: true })] });
    const fn = client.createFunction({ id: "read", triggers: [{ event: "reader/go" }] }, async ({ event, step }) =>
      step.run("open", () => (event.data.encrypted as { n: number }).n + 1),
    );
    const { engine } = await startEngine({ client, functions: [fn] });
    const data = await new Encryptor({ key: "k" }).encryptEventData({ encrypted: { n: 41 } });
    const { ids } = await client.send({ name: "reader/go", data });
    const [queued] = await engine.listRuns({ eventId: ids[0] as string });
    const run = await engine.waitForRun(queued?.id as string, { timeoutMs: 10_000 });
    expect(run).toMatchObject({ status: "Completed", output: 42 });
    expect(run.steps.find((s) => s.name === "open")?.output).toBe(42);
  });

  it("eventEncryptionField: a Stepwise client encrypts that field on send, and the run sees it decrypted", async () => {
    const client = new Stepwise({ id: "fields", logger: silentLogger, middleware: [encryptionMiddleware({ key: "k", eventEncryptionField: "pii" })] });
    const fn = client.createFunction({ id: "echo", triggers: [{ event: "fields/go" }] }, async ({ event }) => event.data);
    const { engine, database } = await startEngine({ client, functions: [fn] });
    const { ids } = await client.send({ name: "fields/go", data: { pii: { email: "a@example.com" }, encrypted: "not this one" } });
    const [queued] = await engine.listRuns({ eventId: ids[0] as string });
    const run = await engine.waitForRun(queued?.id as string, { timeoutMs: 10_000 });
    expect(run.status).toBe("Completed");
    expect(await officialDecrypt(run.output, "k")).toEqual({ pii: { email: "a@example.com" }, encrypted: "not this one" });
    const [eventRow] = rowsOf<{ data: string }>(database, "SELECT data FROM events WHERE id = ?", ids[0]);
    const stored = JSON.parse(eventRow?.data ?? "{}");
    expect(isEncryptedValue(stored.pii)).toBe(true);
    expect(stored.encrypted).toBe("not this one");
    expect(eventRow?.data).not.toContain("example.com");
  });
});
