/**
 * @module checkpoint
 * Async checkpointing for served calls (inngest-protocol §10): when the server's call
 * carries `ctx.fn_id` and `ctx.qi_id`, each step that runs is posted to
 * `POST /v1/checkpoint/{runId}/async` as soon as it ends, and the handler goes on in
 * the same request instead of answering after one step. A `409` means the server gave
 * the call away (its lease was lost): the call stops, non-retriably, reporting nothing
 * further. Other failures are retried a few times, then fail the call (the server
 * retries it; the step may then run again).
 */
import type { Op } from "@stepwise/protocol";
import { NonRetriableError } from "../errors.ts";
import { callApi } from "../http/api.ts";
import type { Connection } from "../http/env.ts";

export interface CheckpointTarget {
  runId: string;
  /** The server's function id (`ctx.fn_id`). */
  fnId: string;
  /** The claimed call (`ctx.qi_id`). */
  queueItemId: string;
  /** The call's `x-request-id`. */
  requestId: string | undefined;
  /** When the app got the call, unix ms. */
  startedAt: number;
  framework: string;
}

const attempts = 4;
const backoffMs = 100;

/** The checkpoint callback for one call: posts each op, in order, and resolves once the server accepted it. */
export function checkpointer(connection: Connection, target: CheckpointTarget): (op: Op) => Promise<void> {
  const path = `/v1/checkpoint/${encodeURIComponent(target.runId)}/async`;
  return async (op) => {
    const body = JSON.stringify({
      run_id: target.runId,
      fn_id: target.fnId,
      qi_id: target.queueItemId,
      ...(target.requestId ? { request_id: target.requestId } : {}),
      request_started_at: target.startedAt,
      steps: [op],
      ts: Date.now(),
    });
    let failure = "";
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
      let response: Response;
      try {
        response = await callApi(connection, { method: "POST", path, body, framework: target.framework });
      } catch (error) {
        failure = (error as Error).message;
        continue;
      }
      const text = await response.text();
      if (response.ok) return;
      if (response.status === 409) throw new NonRetriableError(`Stale dispatch: checkpoint returned 409 (run ${target.runId}); the server gave this call away`);
      failure = `${response.status} ${text.slice(0, 200)}`;
      if (response.status >= 400 && response.status < 500 && response.status !== 429) break;
    }
    throw new Error(`checkpointing step "${op.userland?.id ?? op.id}" of run ${target.runId} failed: ${failure}`);
  };
}
