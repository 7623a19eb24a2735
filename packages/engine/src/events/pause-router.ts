/**
 * @module pause-router
 * Routes incoming events to the pauses they satisfy: waits resume with the event, invoke
 * pauses with the invoked run's result, cancelOn pauses cancel their run. Lookup is by
 * index value (one query per index path in use for that event name) plus the unindexed
 * pauses of that name; no other pause is read. Each resume consumes its pause in the
 * same transaction, so a run resumes at most once however events and timeouts race.
 * The router runs as claimable work (`route` and `post-check` items written with the
 * commit that caused them), so a crash after that commit delays a resume, never loses it.
 */
import type { FunctionConfig, Logger } from "@stepwise/protocol";
import { indexValueOf, pauseMatches } from "../expressions/pause-expression.ts";
import type { Clock } from "../ports/clock.ts";
import { type EventRecord, PauseKind, type PauseRecord, type Store, terminalStatuses } from "../ports/store.ts";
import { cancelReasons, cancelTransition, resumeTransition } from "../runs/resume.ts";
import type { Transition } from "../runs/transition.ts";
import type { FunctionRegistry } from "./function-registry.ts";
import { toStoredEvent } from "./intake.ts";

/** Events read per page when a new pause looks back. */
const postCheckPage = 1_000;

export class PauseRouter {
  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      registry: FunctionRegistry;
      logger: Logger;
      commit(transition: Transition): Promise<boolean>;
      cancelled(runId: string): void;
    },
  ) {}

  /** Resumes or cancels whatever this stored event matches (the work of a `route` item). */
  async route(event: EventRecord): Promise<void> {
    for (const pause of await findPauseCandidates(this.deps.store, event)) {
      if (event.receivedAt >= pause.createdAt && event.receivedAt <= pause.expiresAt && pauseMatches(pause, toStoredEvent(event))) {
        await this.resume(pause, event);
      }
    }
  }

  /**
   * A new wait looks at the events that arrived since it began (minus its lookback),
   * oldest first, page by page, and resumes with the first match (a `post-check` item).
   */
  async postCheck(pause: PauseRecord, since: number): Promise<void> {
    const until = this.deps.clock.now();
    let after: EventRecord | undefined;
    for (;;) {
      const page = await this.deps.store.listEventsByName({ name: pause.eventName, since, until, limit: postCheckPage, ...(after ? { after } : {}) });
      for (const event of page) {
        if (pause.indexPath !== undefined && indexValueOf(toStoredEvent(event), pause.indexPath) !== pause.indexValue) continue;
        if (!pauseMatches(pause, toStoredEvent(event))) continue;
        await this.resume(pause, event);
        return;
      }
      if (page.length < postCheckPage) return;
      after = page.at(-1);
    }
  }

  private async resume(pause: PauseRecord, event: EventRecord): Promise<void> {
    const { store } = this.deps;
    if (pause.kind === PauseKind.Cancel) {
      const state = await store.loadRunState(pause.runId);
      if (!state || terminalStatuses.has(state.run.status) || state.run.eventIds.includes(event.internalId)) return;
      const config = this.configOf(state.run.functionId);
      const applied = await this.deps.commit(
        cancelTransition(state, config, this.deps.clock.now(), cancelReasons.event(pause, event), { consumePause: pause.id }),
      );
      if (applied) this.deps.cancelled(pause.runId);
      return;
    }
    await this.deps.commit(resumeTransition(pause, event, this.deps.clock.now()));
  }

  configOf(functionId: string): FunctionConfig {
    return this.deps.registry.get(functionId)?.config ?? { id: functionId, slug: functionId, appId: "", name: functionId, triggers: [], retries: 0 };
  }
}

/**
 * The pauses an event could satisfy: for each index path in use for its name, the pauses
 * whose index value equals the event's value there, plus the unindexed pauses of that name.
 */
export async function findPauseCandidates(store: Store, event: EventRecord): Promise<PauseRecord[]> {
  const stored = toStoredEvent(event);
  const found = await store.findPauses({ eventName: event.name });
  for (const path of await store.pausePaths(event.name)) {
    const value = indexValueOf(stored, path);
    if (value !== undefined) found.push(...(await store.findPauses({ eventName: event.name, indexPath: path, indexValue: value })));
  }
  return found;
}
