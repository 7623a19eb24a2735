/**
 * @module encryption/aes
 * The legacy strategy, `"inngest/aes"`: what the official middleware used before
 * libsodium, and still what it reads values without a `__STRATEGY__` marker (v0 values)
 * with. It is crypto-js's passphrase mode, which is OpenSSL's `enc -aes-256-cbc -md md5`
 * format: `data` is the base64 of `"Salted__"`, an 8-byte random salt, then the
 * AES-256-CBC (PKCS#7 padded) ciphertext of the UTF-8 JSON text; key and IV come from
 * OpenSSL's EVP_BytesToKey with MD5, one round, over the UTF-8 key string and the salt.
 *
 * Built on `node:crypto`. Kept for reading old data and for `legacyV0Service`; prefer
 * the libsodium strategy for anything new (this one has no authentication tag).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { DecryptionError, type EncryptionService, normalizeKeys } from "./strategy.ts";

/** The strategy identifier of the legacy AES strategy. */
export const AES_STRATEGY = "inngest/aes";

const SALTED = Buffer.from("Salted__", "latin1");
const SALT_BYTES = 8;
const KEY_BYTES = 32;
const IV_BYTES = 16;

/**
 * Encrypts with the first key and decrypts with each key in turn.
 *
 * @example
 * const legacy = new AesEncryptionService(["key"]);
 * const value = legacy.decrypt(oldCiphertext);
 */
export class AesEncryptionService implements EncryptionService {
  readonly identifier = AES_STRATEGY;
  private readonly keys: string[];

  /** `keys`: the encryption key first, then fallback decryption keys. */
  constructor(keys: string | readonly string[]) {
    const [key, ...fallbacks] = typeof keys === "string" ? [keys] : keys;
    this.keys = normalizeKeys(key, fallbacks, "AesEncryptionService");
  }

  encrypt(value: unknown): string {
    const salt = randomBytes(SALT_BYTES);
    const { key, iv } = deriveKeyAndIv(this.keys[0] as string, salt);
    const cipher = createCipheriv("aes-256-cbc", key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value) ?? "null", "utf8"), cipher.final()]);
    return Buffer.concat([SALTED, salt, body]).toString("base64");
  }

  decrypt(data: string): unknown {
    const raw = typeof data === "string" ? Buffer.from(data, "base64") : Buffer.alloc(0);
    if (raw.length < SALTED.length + SALT_BYTES + IV_BYTES || !raw.subarray(0, SALTED.length).equals(SALTED)) {
      throw new DecryptionError(this.identifier, this.keys.length, 'the data is not an OpenSSL "Salted__" ciphertext');
    }
    const salt = raw.subarray(SALTED.length, SALTED.length + SALT_BYTES);
    const body = raw.subarray(SALTED.length + SALT_BYTES);
    let lastError: unknown;
    for (const passphrase of this.keys) {
      try {
        const { key, iv } = deriveKeyAndIv(passphrase, salt);
        const decipher = createDecipheriv("aes-256-cbc", key, iv);
        const text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat([decipher.update(body), decipher.final()]));
        // A wrong key that happens to leave valid padding yields garbage, which fails here.
        return JSON.parse(text);
      } catch (error) {
        lastError = error;
      }
    }
    throw new DecryptionError(this.identifier, this.keys.length, "wrong key or corrupted data", { cause: lastError });
  }
}

/** OpenSSL's EVP_BytesToKey (MD5, one round): MD5 blocks of previous‖passphrase‖salt until key and IV are filled. */
function deriveKeyAndIv(passphrase: string, salt: Buffer): { key: Buffer; iv: Buffer } {
  const secret = Buffer.from(passphrase, "utf8");
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  while (blocks.length * 16 < KEY_BYTES + IV_BYTES) {
    previous = createHash("md5").update(previous).update(secret).update(salt).digest();
    blocks.push(previous);
  }
  const material = Buffer.concat(blocks);
  return { key: material.subarray(0, KEY_BYTES), iv: material.subarray(KEY_BYTES, KEY_BYTES + IV_BYTES) };
}
