import type { Engine } from "@stepwise/engine";
import type { Logger } from "@stepwise/protocol";
import type { AppRegistry } from "../apps/app-registry.ts";
import type { DurableEndpoints } from "../driver/endpoint-function.ts";

/** What every route module needs, passed down once. */
export interface ServerContext {
  engine: Engine;
  apps: AppRegistry;
  logger: Logger;
  /** `undefined`: any key is accepted (dev). */
  eventKey?: string;
  /** Keys whose bearer hashes may call `/fn/register`, `/v0` and `/v1`; empty: open (dev). */
  signingKeys: string[];
  /** How often the live stream polls the store for other nodes' activity, in ms. */
  clusterPollMs?: number;
  /** The drivers of durable-endpoint runs gone async, told each endpoint's retries. */
  endpoints?: DurableEndpoints;
}
