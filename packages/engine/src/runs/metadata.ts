/**
 * @module metadata
 * A run's metadata as people read it: the updates its steps' ops carried (scope "run"
 * ones for the run, the others for their step) and those written over the API, applied
 * in the order they were written ("set" replaces a kind's values, "merge" merges them in).
 * Scores are the run's `inngest.score` values, `{ name: value }`. A step's AI-call metadata
 * (`inngest.ai`) without an `estimated_cost` gets one derived from its model and tokens
 * (see `ai-cost`), as Inngest's server does.
 */
import { applyMetadata, type MetadataUpdate, scoreKind } from "@stepwise/protocol";
import type { RunMetadataRecord, StepRecord } from "../ports/store.ts";
import { estimateAICost } from "./ai-cost.ts";

const aiKind = "inngest.ai";

/** kind → values */
export type MetadataByKind = Record<string, Record<string, unknown>>;

export interface RunMetadata {
  /** The run's metadata, by kind. */
  run: MetadataByKind;
  /** Each step's metadata by kind, keyed by the step's id as written in code (or as an API writer named it). */
  steps: Record<string, MetadataByKind>;
  /** The run's scores: name → value. */
  scores: Record<string, number | boolean>;
  /** When each kind was last written (ms), for the run and for each step. */
  updatedAt: { run: Record<string, number>; steps: Record<string, Record<string, number>> };
}

interface Write {
  at: number;
  step?: string;
  update: MetadataUpdate;
}

/** Folds a run's step metadata and API-written metadata into what the REST API and dashboard show. */
export function foldRunMetadata(steps: readonly StepRecord[], records: readonly RunMetadataRecord[]): RunMetadata {
  const writes: Write[] = [];
  for (const step of steps) {
    for (const m of step.metadata ?? []) {
      const write: Write = { at: step.endedAt ?? step.startedAt ?? 0, update: { kind: m.kind, op: m.op, values: m.values } };
      if (m.scope !== "run") write.step = step.name;
      writes.push(write);
    }
  }
  for (const record of records) {
    for (const update of record.updates) {
      const write: Write = { at: record.createdAt, update };
      if (record.target.step_id !== undefined) write.step = record.target.step_id;
      writes.push(write);
    }
  }
  // stable: writes of one instant keep their order (steps in run order, then API writes)
  writes.sort((a, b) => a.at - b.at);
  const out: RunMetadata = { run: {}, steps: {}, scores: {}, updatedAt: { run: {}, steps: {} } };
  for (const { at, step, update } of writes) {
    const target = step === undefined ? out.run : (out.steps[step] ??= {});
    target[update.kind] = applyMetadata(target[update.kind], update);
    const times = step === undefined ? out.updatedAt.run : (out.updatedAt.steps[step] ??= {});
    times[update.kind] = at;
  }
  for (const kinds of Object.values(out.steps)) {
    const ai = kinds[aiKind];
    if (!ai || ai.estimated_cost !== undefined) continue;
    const cost = estimateAICost(ai);
    if (cost !== undefined) kinds[aiKind] = { ...ai, estimated_cost: cost };
  }
  for (const [name, score] of Object.entries(out.run[scoreKind] ?? {})) {
    const value = (score as { value?: unknown } | null)?.value;
    if (typeof value === "number" || typeof value === "boolean") out.scores[name] = value;
  }
  return out;
}

/** Whether the fold holds anything. */
export function hasMetadata(m: RunMetadata): boolean {
  return Object.keys(m.run).length > 0 || Object.keys(m.steps).length > 0;
}
