/**
 * Payload-level interop with the official `@inngest/middleware-encryption`: values and
 * event data encrypted by its middleware (driven through its own hooks) are read by our
 * `Encryptor`, and the reverse, with the same keys, fallback keys and legacy v0 values.
 */
import { encryptionMiddleware as officialMiddleware } from "@inngest/middleware-encryption";
import { AESEncryptionService } from "@inngest/middleware-encryption/strategies/aes";
import { LibSodiumEncryptionService } from "@inngest/middleware-encryption/strategies/libSodium";
import { Inngest } from "inngest";
import { AesEncryptionService, DecryptionError, Encryptor, encryptionMiddleware, isEncryptedValue, LibsodiumEncryptionService } from "stepwise";
import { describe, expect, it } from "vitest";

const client = new Inngest({ id: "payload", isDev: true });

/** An instance of the official middleware, whose hooks we call as its SDK would. */
function official(options: Parameters<typeof officialMiddleware>[0]) {
  const Class = officialMiddleware(options);
  // The official package is CommonJS, so its `Inngest` type is the .d.cts copy of ours.
  const mw = new Class({ client } as never);
  return {
    encryptStep: (value: unknown) => mw.wrapStepHandler?.({ next: async () => value } as never) as Promise<unknown>,
    encryptOutput: (value: unknown) => mw.wrapFunctionHandler?.({ next: async () => value } as never) as Promise<unknown>,
    decryptStep: (stored: unknown) => mw.wrapStep?.({ next: async () => stored } as never) as Promise<unknown>,
    async encryptEvents(events: { name: string; data: Record<string, unknown> }[]) {
      const out = await mw.transformSendEvent?.({ events, fn: null } as never);
      return (out as { events: typeof events }).events;
    },
    async decryptEvent(event: { name: string; data: Record<string, unknown> }) {
      const out = await mw.transformFunctionInput?.({ ctx: { event, events: [event] }, steps: {} } as never);
      return (out as unknown as { ctx: { event: typeof event } }).ctx.event;
    },
  };
}

const secret = { card: "4242 4242 4242 4242", nested: { list: [1, "two", null, true] }, unicode: "Grüße ✓" };

describe("values: official ⇄ ours", () => {
  it("a step output encrypted by the official middleware decrypts with ours, and ours with theirs", async () => {
    const theirs = official({ key: "k-2026" });
    const ours = new Encryptor({ key: "k-2026" });

    const sealedByThem = await theirs.encryptStep(secret);
    expect(isEncryptedValue(sealedByThem)).toBe(true);
    expect(sealedByThem).toMatchObject({ __ENCRYPTED__: true, __STRATEGY__: "inngest/libsodium" });
    expect(JSON.stringify(sealedByThem)).not.toContain("4242");
    expect(await ours.decryptValue(sealedByThem)).toEqual(secret);

    const sealedByUs = await ours.encryptValue(secret);
    expect(Object.keys(sealedByUs).sort()).toEqual(["__ENCRYPTED__", "__STRATEGY__", "data"]);
    expect(JSON.stringify(sealedByUs)).not.toContain("4242");
    expect(await theirs.decryptStep(sealedByUs)).toEqual(secret);
  });

  it("function outputs and every JSON type survive both ways", async () => {
    const theirs = official({ key: "k" });
    const ours = new Encryptor({ key: "k" });
    for (const value of ["text", 0, 42.5, false, [1, [2]], { a: null }]) {
      expect(await ours.decryptValue(await theirs.encryptOutput(value))).toEqual(value);
      expect(await theirs.decryptStep(await ours.encryptValue(value))).toEqual(value);
    }
  });

  it("each encryption uses a fresh nonce", async () => {
    const ours = new Encryptor({ key: "k" });
    const a = (await ours.encryptValue("same")) as { data: string };
    const b = (await ours.encryptValue("same")) as { data: string };
    expect(a.data).not.toBe(b.data);
    // 24-byte nonce + 16-byte tag + the 6 bytes of "same" as JSON.
    expect(Buffer.from(a.data, "base64")).toHaveLength(24 + 16 + 6);
  });

  it("the strategies alone are byte-compatible with the official ones", async () => {
    expect(await new LibsodiumEncryptionService("k").decrypt(await new LibSodiumEncryptionService("k").encrypt(secret))).toEqual(secret);
    expect(await new LibSodiumEncryptionService("k").decrypt(await new LibsodiumEncryptionService("k").encrypt(secret))).toEqual(secret);
    expect(new AesEncryptionService("k").decrypt(new AESEncryptionService("k").encrypt(secret))).toEqual(secret);
    expect(new AESEncryptionService("k").decrypt(new AesEncryptionService("k").encrypt(secret))).toEqual(secret);
  });

  it("keys are trimmed as the official middleware trims them", async () => {
    const theirs = official({ key: "  spaced\n" });
    expect(await new Encryptor({ key: "spaced" }).decryptValue(await theirs.encryptStep(secret))).toEqual(secret);
  });
});

describe("key rotation", () => {
  it("reads values sealed with an old key through fallbackDecryptionKeys, and always encrypts with the new key", async () => {
    const oldTheirs = official({ key: "old" });
    const sealedOld = await oldTheirs.encryptStep(secret);
    const rotated = new Encryptor({ key: "new", fallbackDecryptionKeys: ["older", "old"] });
    expect(await rotated.decryptValue(sealedOld)).toEqual(secret);

    const sealedNew = await rotated.encryptValue(secret);
    await expect(oldTheirs.decryptStep(sealedNew)).rejects.toThrow();
    expect(await official({ key: "new" }).decryptStep(sealedNew)).toEqual(secret);
    // The official middleware, rotated the same way, reads what our old-key encryptor wrote.
    const sealedOldByUs = await new Encryptor({ key: "old" }).encryptValue(secret);
    expect(await official({ key: "new", fallbackDecryptionKeys: ["old"] }).decryptStep(sealedOldByUs)).toEqual(secret);
  });

  it("a value no key opens raises DecryptionError naming the strategy and key count", async () => {
    const sealed = await official({ key: "a" }).encryptStep(secret);
    const error = await new Encryptor({ key: "b", fallbackDecryptionKeys: ["c"] }).decryptValue(sealed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecryptionError);
    expect(error).toMatchObject({ strategy: "inngest/libsodium", keysTried: 2 });
    expect((error as Error).message).toContain("fallbackDecryptionKeys");
  });

  it("tampered ciphertext is refused", async () => {
    const sealed = (await new Encryptor({ key: "k" }).encryptValue(secret)) as { data: string };
    const bytes = Buffer.from(sealed.data, "base64");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await expect(new Encryptor({ key: "k" }).decryptValue({ ...sealed, data: bytes.toString("base64") })).rejects.toBeInstanceOf(DecryptionError);
  });
});

describe("event data", () => {
  it("only the encryption field is encrypted; every encrypted field is decrypted", async () => {
    const theirs = official({ key: "k" });
    const ours = new Encryptor({ key: "k" });
    const data = { encrypted: { ssn: "123-45-6789" }, plain: "visible" };

    const [sentByThem] = await theirs.encryptEvents([{ name: "app/user", data }]);
    expect(sentByThem?.data.plain).toBe("visible");
    expect(isEncryptedValue(sentByThem?.data.encrypted)).toBe(true);
    expect(await ours.decryptEventData(sentByThem?.data ?? {})).toEqual(data);

    const sentByUs = await ours.encryptEventData(data);
    expect(sentByUs.plain).toBe("visible");
    expect(JSON.stringify(sentByUs)).not.toContain("6789");
    expect((await theirs.decryptEvent({ name: "app/user", data: sentByUs })).data).toEqual(data);
  });

  it("eventEncryptionField picks another field on both sides", async () => {
    const theirs = official({ key: "k", eventEncryptionField: "secret" });
    const ours = new Encryptor({ key: "k", eventEncryptionField: "secret" });
    const data = { secret: ["a", "b"], encrypted: "left alone" };
    const sentByUs = await ours.encryptEventData(data);
    expect(sentByUs.encrypted).toBe("left alone");
    expect(isEncryptedValue(sentByUs.secret)).toBe(true);
    expect((await theirs.decryptEvent({ name: "x", data: sentByUs })).data).toEqual(data);
    const [sentByThem] = await theirs.encryptEvents([{ name: "x", data }]);
    expect(sentByThem?.data.encrypted).toBe("left alone");
    expect(await ours.decryptEventData(sentByThem?.data ?? {})).toEqual(data);
  });
});

describe("legacy v0 (AES) values", () => {
  it("v0 values written by the official forceEncryptWithV0 mode are read by ours, and ours by theirs", async () => {
    const theirs = official({ key: "k", legacyV0Service: { forceEncryptWithV0: true } });
    const sealedByThem = await theirs.encryptStep(secret);
    expect(sealedByThem).not.toHaveProperty("__STRATEGY__");
    expect(await new Encryptor({ key: "k" }).decryptValue(sealedByThem)).toEqual(secret);

    const oursV0 = new Encryptor({ key: "k", legacyV0Service: { forceEncryptWithV0: true, eventEncryptionField: ["a", "b"] } });
    const sealedByUs = await oursV0.encryptValue(secret);
    expect(Object.keys(sealedByUs).sort()).toEqual(["__ENCRYPTED__", "data"]);
    expect(await official({ key: "k" }).decryptStep(sealedByUs)).toEqual(secret);

    const data = await oursV0.encryptEventData({ a: 1, b: 2, c: 3 });
    expect(data.c).toBe(3);
    expect((await official({ key: "k" }).decryptEvent({ name: "x", data })).data).toEqual({ a: 1, b: 2, c: 3 });
  });

  it("v0 values sealed with an old key are read through fallback keys", async () => {
    const sealed = await official({ key: "old", legacyV0Service: { forceEncryptWithV0: true } }).encryptStep(secret);
    expect(await new Encryptor({ key: "new", fallbackDecryptionKeys: ["old"] }).decryptValue(sealed)).toEqual(secret);
    await expect(new Encryptor({ key: "new" }).decryptValue(sealed)).rejects.toBeInstanceOf(DecryptionError);
  });
});

describe("options", () => {
  it("bad options raise a StepwiseError naming the field", () => {
    const bad: [unknown, string][] = [
      [{}, '"key"'],
      [{ key: "  " }, '"key"'],
      [{ key: 7 }, '"key"'],
      [{ key: "k", fallbackDecryptionKeys: "old" }, '"fallbackDecryptionKeys"'],
      [{ key: "k", fallbackDecryptionKeys: ["ok", 3] }, '"fallbackDecryptionKeys[1]"'],
      [{ key: "k", eventEncryptionField: "" }, '"eventEncryptionField"'],
      [{ encryptionService: { identifier: "x" } }, '"encryptionService"'],
    ];
    for (const [options, field] of bad) {
      expect(() => new Encryptor(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ name: "StepwiseError", code: "invalid_config" }),
      );
      expect(() => new Encryptor(options as never)).toThrow(field);
    }
  });

  it("encryptionMiddleware checks its options when created", () => {
    expect(() => encryptionMiddleware({} as never)).toThrow(expect.objectContaining({ code: "invalid_config", message: expect.stringContaining('"key"') }));
    expect(() => encryptionMiddleware({ key: "k", decryptOnly: "yes" as never })).toThrow('"decryptOnly"');
    expect(encryptionMiddleware({ key: "k" }).name).toBe("stepwise:encryption");
  });

  it("a custom encryptionService is used and named in the envelope", async () => {
    const reversing = {
      identifier: "test/reverse",
      encrypt: (value: unknown) => [...JSON.stringify(value)].reverse().join(""),
      decrypt: (data: string) => JSON.parse([...data].reverse().join("")),
    };
    const ours = new Encryptor({ encryptionService: reversing });
    // As with the official middleware, a blank key beside a custom strategy is no key.
    expect(() => new Encryptor({ key: "", encryptionService: reversing })).not.toThrow();
    const sealed = await ours.encryptValue({ a: 1 });
    expect(sealed).toEqual({ __ENCRYPTED__: true, __STRATEGY__: "test/reverse", data: '}1:"a"{' });
    expect(await official({ key: "", encryptionService: reversing }).decryptStep(sealed)).toEqual({ a: 1 });
  });

  it("after switching to a custom encryptionService, values of the built-in strategies stay readable with the keys", async () => {
    const reversing = {
      identifier: "test/reverse",
      encrypt: (value: unknown) => [...JSON.stringify(value)].reverse().join(""),
      decrypt: (data: string) => JSON.parse([...data].reverse().join("")),
    };
    const switched = new Encryptor({ key: "k", encryptionService: reversing });
    expect(await switched.decryptValue(await official({ key: "k" }).encryptStep(secret))).toEqual(secret);
    expect(await switched.decryptValue(await official({ key: "k", legacyV0Service: { forceEncryptWithV0: true } }).encryptStep(secret))).toEqual(secret);
    expect(await switched.encryptValue(1)).toMatchObject({ __STRATEGY__: "test/reverse" });
  });
});
