/**
 * @module auth/token-store
 * API tokens for `stepwise start`: created, listed and revoked by `stepwise tokens` or
 * `POST/GET/DELETE /v1/tokens`. Only the SHA-256 of each token is kept, in a JSON file
 * beside the database (`<db>.tokens.json`, mode 0600). A file rather than a table: the
 * schema of the database belongs to the store, and a running server picks up tokens made
 * by the CLI because it re-reads the file when its modification time changes.
 */

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { randomSecret, safeEqualHex, sha256Hex } from "./secrets.ts";

export interface ApiTokenInfo {
  id: string;
  name: string;
  createdAt: number;
}

interface StoredToken extends ApiTokenInfo {
  /** Hex SHA-256 of the token. */
  hash: string;
}

export const tokenPrefix = "swt_";

/** Where the tokens of a database live. */
export function tokenFileFor(db: string): string {
  return `${db}.tokens.json`;
}

export class TokenStore {
  private cache: { mtimeMs: number; tokens: StoredToken[] } | undefined;
  private memory: StoredToken[] = [];

  /** `file` undefined: tokens live in memory only (tests, `:memory:` databases). */
  constructor(private readonly file?: string) {}

  private read(): StoredToken[] {
    if (!this.file) return this.memory;
    if (!existsSync(this.file)) return [];
    const { mtimeMs } = statSync(this.file);
    if (this.cache?.mtimeMs === mtimeMs) return this.cache.tokens;
    const parsed = JSON.parse(readFileSync(this.file, "utf8")) as { tokens?: StoredToken[] };
    const tokens = Array.isArray(parsed.tokens) ? parsed.tokens : [];
    this.cache = { mtimeMs, tokens };
    return tokens;
  }

  private write(tokens: StoredToken[]) {
    if (!this.file) {
      this.memory = tokens;
      return;
    }
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600);
    renameSync(temp, this.file);
    this.cache = undefined;
  }

  /** Makes a token; the plain value is returned once and never stored. */
  create(name: string): { token: string; info: ApiTokenInfo } {
    const token = randomSecret(tokenPrefix);
    const info: ApiTokenInfo = { id: randomBytes(6).toString("hex"), name: name || "unnamed", createdAt: Date.now() };
    this.write([...this.read(), { ...info, hash: sha256Hex(token) }]);
    return { token, info };
  }

  list(): ApiTokenInfo[] {
    return this.read().map(({ id, name, createdAt }) => ({ id, name, createdAt }));
  }

  /** `false` when no token has that id. */
  revoke(id: string): boolean {
    const tokens = this.read();
    const kept = tokens.filter((t) => t.id !== id);
    if (kept.length === tokens.length) return false;
    this.write(kept);
    return true;
  }

  /** The token's record if `token` is a live API token. Checks every record, in constant time each. */
  verify(token: string | undefined): ApiTokenInfo | undefined {
    if (!token?.startsWith(tokenPrefix)) return undefined;
    const hash = sha256Hex(token);
    let found: StoredToken | undefined;
    for (const t of this.read()) if (safeEqualHex(t.hash, hash)) found = t;
    return found ? { id: found.id, name: found.name, createdAt: found.createdAt } : undefined;
  }
}
