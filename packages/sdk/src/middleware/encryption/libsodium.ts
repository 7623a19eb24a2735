/**
 * @module encryption/libsodium
 * The default strategy, `"inngest/libsodium"`, byte-compatible with the official
 * middleware's: libsodium's secretbox (XSalsa20-Poly1305) under a 32-byte key that is
 * the BLAKE2b-256 hash (`crypto_generichash`, no hash key) of each key string.
 *
 * Wire form of `data`: standard base64 (with padding) of the 24-byte random nonce
 * followed by the secretbox output (16-byte Poly1305 tag, then the ciphertext of the
 * UTF-8 JSON text of the value).
 *
 * libsodium is loaded when the first strategy is made, so importing the SDK costs
 * nothing when encryption is off. It is loaded through `require`: the package's ES
 * module build cannot be imported by Node.
 */
import { createRequire } from "node:module";
import type * as Sodium from "libsodium-wrappers";
import { DecryptionError, type EncryptionService, normalizeKeys } from "./strategy.ts";

let sodium: Promise<typeof Sodium> | undefined;

/** libsodium, ready to use. */
function loadSodium(): Promise<typeof Sodium> {
  sodium ??= (async () => {
    const lib = createRequire(import.meta.url)("libsodium-wrappers") as typeof Sodium;
    await lib.ready;
    return lib;
  })();
  return sodium;
}

/** The strategy identifier written into `__STRATEGY__`. */
export const LIBSODIUM_STRATEGY = "inngest/libsodium";

/**
 * Encrypts with the first key and decrypts with each key in turn.
 *
 * @example
 * const strategy = new LibsodiumEncryptionService(["new-key", "old-key"]);
 * const data = await strategy.encrypt({ card: "4242" });
 */
export class LibsodiumEncryptionService implements EncryptionService {
  readonly identifier = LIBSODIUM_STRATEGY;
  private readonly keys: Promise<Uint8Array[]>;
  private readonly keyCount: number;

  /** `keys`: the encryption key first, then fallback decryption keys. */
  constructor(keys: string | readonly string[]) {
    const [key, ...fallbacks] = typeof keys === "string" ? [keys] : keys;
    const normalized = normalizeKeys(key, fallbacks, "LibsodiumEncryptionService");
    this.keyCount = normalized.length;
    this.keys = loadSodium().then((lib) => normalized.map((k) => lib.crypto_generichash(lib.crypto_secretbox_KEYBYTES, k)));
    // Surfaced by encrypt/decrypt; not an unhandled rejection before then.
    this.keys.catch(() => {});
  }

  async encrypt(value: unknown): Promise<string> {
    const [lib, keys] = await Promise.all([loadSodium(), this.keys]);
    const nonce = lib.randombytes_buf(lib.crypto_secretbox_NONCEBYTES);
    const message = Buffer.from(JSON.stringify(value) ?? "null", "utf8");
    const box = lib.crypto_secretbox_easy(message, nonce, keys[0] as Uint8Array);
    return Buffer.concat([nonce, box]).toString("base64");
  }

  async decrypt(data: string): Promise<unknown> {
    const [lib, keys] = await Promise.all([loadSodium(), this.keys]);
    const combined = typeof data === "string" ? Buffer.from(data, "base64") : Buffer.alloc(0);
    if (combined.length < lib.crypto_secretbox_NONCEBYTES + lib.crypto_secretbox_MACBYTES) {
      throw new DecryptionError(this.identifier, this.keyCount, "the data is too short to be a secretbox");
    }
    const nonce = combined.subarray(0, lib.crypto_secretbox_NONCEBYTES);
    const box = combined.subarray(lib.crypto_secretbox_NONCEBYTES);
    let lastError: unknown;
    for (const key of keys) {
      let opened: Uint8Array;
      try {
        opened = lib.crypto_secretbox_open_easy(box, nonce, key);
      } catch (error) {
        lastError = error;
        continue;
      }
      return JSON.parse(Buffer.from(opened).toString("utf8"));
    }
    throw new DecryptionError(this.identifier, this.keyCount, "wrong key or tampered data", { cause: lastError });
  }
}
