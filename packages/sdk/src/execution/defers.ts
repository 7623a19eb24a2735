/**
 * @module defers
 * `defer(id, { function, data })` inside one call: a defer is an op with no work of its
 * own (`DeferAdd`), buffered until the call next reports (a checkpoint, the steps it
 * found, the function's return or error) and shipped with it. A defer the engine already
 * recorded (`input.defers`) is not reported again; `abort()` ships a `DeferAbort`, or
 * simply drops the add while it is still buffered.
 */
import { type EventMeta, hashStepId, type Op, OpCode } from "@stepwise/protocol";

/** What `defer()` returns: `abort()` keeps the deferred run from starting (a no-op once it cannot). */
export interface DeferHandle {
  abort(): void;
}

export class DeferBuffer {
  private buffered: Op[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly prior: Readonly<Record<string, { abortable: boolean }>> = {}) {}

  get size(): number {
    return this.buffered.length;
  }

  /** Records a defer of the function `functionId` (composite id) with `data` and the event `meta`; a repeated id in one run is ignored. */
  add(id: string, functionId: string, data: Record<string, unknown>, meta?: EventMeta): DeferHandle {
    const hash = hashStepId(id);
    const noop: DeferHandle = { abort() {} };
    if (this.seen.has(hash)) return noop;
    this.seen.add(hash);
    if (!this.prior[hash]) {
      this.buffered.push({
        id: hash,
        op: OpCode.DeferAdd,
        name: id,
        displayName: id,
        opts: { fn_slug: functionId, input: data, ...(meta ? { meta } : {}) },
        userland: { id },
      });
    }
    return {
      abort: () => {
        if (this.prior[hash]?.abortable === false) return;
        const abortHash = hashStepId(`${hash}:abort`);
        if (this.seen.has(abortHash)) return;
        this.seen.add(abortHash);
        const before = this.buffered.length;
        this.buffered = this.buffered.filter((op) => op.id !== hash);
        if (this.buffered.length < before) return; // never shipped: dropping it is the abort
        this.buffered.push({
          id: abortHash,
          op: OpCode.DeferAbort,
          name: id,
          displayName: id,
          opts: { target_hashed_id: hash, fn_slug: functionId, id },
          userland: { id },
        });
      },
    };
  }

  /** Takes the buffered ops: the caller ships them with what it reports next. */
  drain(): Op[] {
    const ops = this.buffered;
    this.buffered = [];
    return ops;
  }
}
