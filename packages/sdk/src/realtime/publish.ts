/**
 * @module realtime/publish
 * Publishing a message: to the engine's bus in this process, else to the server
 * (`POST /v1/realtime/publish?channel=…&topic=…[&run_id=…]`, JSON body, the client's
 * signing key), as the official SDK does.
 */
import type { RealtimeBus } from "@stepwise/protocol";
import { callApi } from "../http/api.ts";
import type { Connection } from "../http/env.ts";
import { readTopicRef, type TopicRef, validateTopicData } from "./channel.ts";

export interface PublishTarget {
  /** The engine's bus, in-process. */
  bus?: RealtimeBus | undefined;
  connection(): Connection;
}

/** Checks `data` against the topic's schema, then publishes it. Not durable: see `step.realtime.publish`. */
export async function publishTo(target: PublishTarget, ref: TopicRef, data: unknown, where: string, runId?: string): Promise<unknown> {
  const { channel, topic, config } = readTopicRef(ref, where);
  const value = await validateTopicData({ channel, topic, config }, data, where);
  if (value === undefined) throw new TypeError(`${where}: data for topic "${topic}" must be a JSON value, received undefined`);
  if (target.bus) {
    // through JSON, as a message from another node would arrive
    await target.bus.publish({ channel, topic, data: JSON.parse(JSON.stringify(value)), createdAt: Date.now(), ...(runId ? { runId } : {}) });
    return value;
  }
  const query = new URLSearchParams({ channel, topic, ...(runId ? { run_id: runId } : {}) });
  const response = await callApi(target.connection(), { method: "POST", path: `/v1/realtime/publish?${query}`, body: JSON.stringify(value) });
  if (!response.ok) throw new Error(`${where}: POST /v1/realtime/publish answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return value;
}
