/**
 * @module app-registry
 * Apps that serve functions over HTTP: registering their configs with the engine (as
 * `HttpFunction`s), replacing them on each sync, and asking an app to sync (`PUT`).
 *
 * A sync is stored (`store.saveApp`) before it is answered, and every node registers the
 * apps it finds in the store (`refresh`, at start and then every few seconds), so an app
 * synced through one node is called by any node on the same database.
 */
import type { Engine } from "@stepwise/engine";
import { type Logger, StepwiseError, signBody } from "@stepwise/protocol";
import { canonicalJson } from "../driver/canonical-json.ts";
import { HttpFunction } from "../driver/http-function.ts";
import { fromWire, type WireFunction } from "../driver/wire-config.ts";

export interface RegisterRequest {
  url: string;
  appName: string;
  functions: WireFunction[];
  sdk?: string;
  framework?: string;
  deployType?: string;
  v?: string;
}

export interface AppRecord {
  /** The app's serve URL. */
  url: string;
  appName?: string;
  sdk?: string;
  framework?: string;
  functionIds: string[];
  lastSyncedAt?: number;
  /** Why the last sync failed, if it did. */
  error?: string;
}

export interface AppRegistryOptions {
  engine: Engine;
  logger: Logger;
  signingKey?: string;
  serverKind: "dev" | "cloud";
  callTimeoutMs: number;
}

/** Functions built between two turns of the event loop during a sync. */
const buildSlice = 500;

/** How long a sync request may take. */
const syncTimeoutMs = 15_000;

export class AppRegistry {
  private readonly apps = new Map<string, AppRecord>();
  private readonly fingerprints = new Map<string, string>();
  /** The sync being applied (see `serially`). */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AppRegistryOptions) {}

  list(): AppRecord[] {
    return [...this.apps.values()];
  }

  /**
   * Registers an app's functions, replacing what it registered before. All-or-nothing:
   * one invalid config rejects the sync with a message naming function and field.
   * Returns whether anything changed since the app's previous sync.
   */
  register(request: RegisterRequest): Promise<{ modified: boolean }> {
    return this.serially(() => this.registerNow(request));
  }

  /**
   * Syncs apply one after another, in arrival order: a sync yields to the event loop while
   * it builds its functions, so without this a large sync could finish after a later one.
   */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.applying.then(work, work);
    this.applying = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async registerNow(request: RegisterRequest): Promise<{ modified: boolean }> {
    const result = await this.apply(request, Date.now());
    const record = this.apps.get(appKey(request.url)) as AppRecord;
    await this.options.engine.store.saveApp({
      url: appKey(request.url),
      appName: request.appName,
      functions: request.functions,
      syncedAt: record.lastSyncedAt ?? Date.now(),
      ...(request.sdk ? { sdk: request.sdk } : {}),
      ...(request.framework ? { framework: request.framework } : {}),
    });
    return result;
  }

  /**
   * Registers what other nodes synced: each stored app whose functions differ from what
   * this node has is applied as if it had synced here. An app stored with a config this
   * node cannot register is logged and skipped.
   */
  async refresh(): Promise<void> {
    for (const stored of await this.options.engine.store.listApps()) {
      if (stored.url.startsWith("connect://")) continue; // Connect workers' apps: the gateway registers them
      // the sync this node applied last (same instant): nothing to compare
      const known = this.apps.get(stored.url);
      if (known && known.lastSyncedAt === stored.syncedAt && this.fingerprints.has(stored.url)) continue;
      if (this.fingerprints.get(stored.url) === JSON.stringify(stored.functions)) {
        if (known) known.lastSyncedAt = stored.syncedAt;
        continue;
      }
      try {
        await this.serially(() =>
          this.apply(
            {
              url: this.apps.get(stored.url)?.url ?? stored.url,
              appName: stored.appName,
              functions: stored.functions as WireFunction[],
              ...(stored.sdk ? { sdk: stored.sdk } : {}),
              ...(stored.framework ? { framework: stored.framework } : {}),
            },
            stored.syncedAt,
          ),
        );
      } catch (error) {
        this.options.logger.warn(`stepwise: could not register app ${stored.url} from the store: ${(error as Error).message}`);
      }
    }
  }

  /** Calls `refresh` every `everyMs` until the returned function is called. */
  startRefreshing(everyMs = 2_000): () => void {
    const timer = setInterval(() => {
      void this.refresh().catch((error) => this.options.logger.warn(`stepwise: refreshing apps failed: ${(error as Error).message}`));
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Validates and registers one app's functions with this node's engine. The functions are
   * built in slices with a turn of the event loop between them, so a sync of thousands of
   * functions does not stall calls and requests; registering them is one synchronous step
   * (all-or-nothing).
   */
  private async apply(request: RegisterRequest, syncedAt: number): Promise<{ modified: boolean }> {
    if (!request || typeof request !== "object") throw new StepwiseError("invalid_argument", "register: expected a JSON object body");
    if (typeof request.url !== "string" || request.url === "") throw new StepwiseError("invalid_argument", 'register: "url" is required');
    if (typeof request.appName !== "string" || request.appName === "") throw new StepwiseError("invalid_argument", 'register: "appName" is required');
    if (!Array.isArray(request.functions)) throw new StepwiseError("invalid_argument", 'register: "functions" must be an array');
    const key = appKey(request.url);
    // computed before the functions are built, so it is not part of the final synchronous step
    const fingerprint = JSON.stringify(request.functions);
    await new Promise((resolve) => setImmediate(resolve));
    const handles: HttpFunction[] = [];
    for (const wire of request.functions) {
      if (handles.length > 0 && handles.length % buildSlice === 0) await new Promise((resolve) => setImmediate(resolve));
      const { config, url } = fromWire(wire, request.appName);
      handles.push(
        new HttpFunction({
          config,
          url,
          serverKind: this.options.serverKind,
          timeoutMs: this.options.callTimeoutMs,
          ...(this.options.signingKey ? { signingKey: this.options.signingKey } : {}),
        }),
      );
    }
    const previous = this.apps.get(key);
    this.options.engine.register({ functions: handles });
    const ids = handles.map((h) => h.config.id);
    const kept = new Set(ids);
    const removed = (previous?.functionIds ?? []).filter((id) => !kept.has(id));
    if (removed.length) this.options.engine.unregister(removed);
    const modified = this.fingerprints.get(key) !== fingerprint;
    this.fingerprints.set(key, fingerprint);
    const record: AppRecord = { url: request.url, appName: request.appName, functionIds: ids, lastSyncedAt: syncedAt };
    if (request.sdk) record.sdk = request.sdk;
    if (request.framework) record.framework = request.framework;
    this.apps.set(key, record);
    return { modified };
  }

  /**
   * Asks the app at `url` to sync. In-band first (the app answers with its functions, so
   * it needs no route back to this server); an app that answers the classic way calls
   * `POST /fn/register` itself before replying.
   */
  async sync(url: string): Promise<AppRecord> {
    const key = appKey(url);
    const fail = (error: string): AppRecord => {
      const record = { ...(this.apps.get(key) ?? { url, functionIds: [] }), error };
      this.apps.set(key, record);
      return record;
    };
    let response: Response;
    const body = canonicalJson({ url });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-inngest-sync-kind": "in_band",
      "x-inngest-server-kind": this.options.serverKind,
    };
    if (this.options.signingKey) headers["x-inngest-signature"] = signBody(body, this.options.signingKey);
    try {
      response = await fetch(url, { method: "PUT", headers, body, signal: AbortSignal.timeout(syncTimeoutMs) });
    } catch (cause) {
      return fail(`could not reach ${url}: ${(cause as Error).message}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      // A body cut short or a damaged gzip stream: undici rejects with `TypeError: terminated`.
      const detail = (cause as Error & { cause?: Error }).cause?.message;
      return fail(`could not read the reply of ${url}: ${(cause as Error).message}${detail ? ` (${detail})` : ""}`);
    }
    let reply: Record<string, unknown> = {};
    try {
      reply = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return fail(`${url} answered ${response.status} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    if (response.headers.get("x-inngest-sync-kind") === "in_band" && response.ok) {
      try {
        await this.register({
          url: String(reply.url ?? url),
          appName: String(reply.app_id ?? ""),
          functions: (reply.functions ?? []) as WireFunction[],
          ...(typeof reply.sdk === "string" ? { sdk: reply.sdk } : {}),
          ...(typeof reply.framework === "string" ? { framework: reply.framework } : {}),
        });
      } catch (error) {
        return fail((error as Error).message);
      }
      return this.apps.get(appKey(String(reply.url ?? url))) ?? fail("sync succeeded but the app is missing");
    }
    if (!response.ok) return fail(`${url} answered ${response.status}: ${String(reply.message ?? text).slice(0, 300)}`);
    const record = this.apps.get(key);
    if (!record) return fail(`${url} answered ${response.status} but never registered; is its INNGEST_BASE_URL pointing at this server?`);
    delete record.error;
    return record;
  }
}

/** Apps are keyed by URL without query string (the SDK may append `?deployId=`). */
function appKey(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}
