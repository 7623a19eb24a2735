/**
 * @module metadata
 * Step metadata, run metadata and scores, as the official SDK v4 writes them.
 *
 * - Inside a `step.run` callback, `client.metadata.set(values, kind)` (and `client.score`)
 *   attach the update to the step's op (`metadata`, scope "step"; scores scope "run"): it
 *   is stored with the step and written exactly once, with the step's result.
 * - `step.metadata(id).set(values, kind)` / `.update(...)` and `step.score(id, { name, value })`
 *   are durable steps of their own whose op carries a run-scoped update.
 * - Elsewhere, `client.metadata.run(runId).set(...)` and `client.score({ runId, name, value })`
 *   write for that run right away: to the engine the client is registered with, or to
 *   `POST /v1/runs/:id/metadata` of the Stepwise server.
 */

import { type MetadataUpdate, type MetadataWriter, OpCode, type OpMetadata, scoreKind, validateMetadataUpdates } from "@stepwise/protocol";
import { ambient, withAmbient } from "../execution/ambient.ts";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** A score: a finite number or a boolean, under a name of at most 128 UTF-8 bytes. */
export interface ScoreOptions {
  name: string;
  value: number | boolean;
  /** The run to score; inside a `step.run` callback, the current run by default. */
  runId?: string;
  /** Score this step of the run rather than the run. */
  stepId?: string;
}

interface StepScope {
  runId: string;
  updates: OpMetadata[];
}

/** The step scope where this code runs (kept in the one ambient storage). */
const currentStep = { getStore: () => ambient()?.step as StepScope | undefined };

/** Runs a step's work so that metadata written inside it is collected for its op. */
export function collectingMetadata<T>(runId: string, work: () => T): { result: T; updates: OpMetadata[] } {
  const scope: StepScope = { runId, updates: [] };
  return { result: withAmbient({ step: scope }, work), updates: scope.updates };
}

/** Adds an update to the step being run (merging into one of the same kind and scope), as the official SDK does. */
function addToStep(scope: StepScope, update: OpMetadata): void {
  const same = scope.updates.find((u) => u.kind === update.kind && u.scope === update.scope);
  if (!same) scope.updates.push({ ...update, values: { ...update.values } });
  else {
    same.values = update.op === "merge" ? { ...same.values, ...update.values } : { ...update.values };
    same.op = update.op;
  }
}

/** Checks a score's name and value (the official SDK's rules), throwing a TypeError naming the field. */
export function checkScore(options: ScoreOptions, where: string): void {
  if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object { name, value }`);
  if (typeof options.name !== "string" || options.name.trim() === "") throw new TypeError(`${where}: "name" must be a non-empty string`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\x00-\x1f\x7f']/.test(options.name)) throw new TypeError(`${where}: "name" must not contain control characters or single quotes`);
  if (Buffer.byteLength(options.name) > 128) throw new TypeError(`${where}: "name" must be 128 UTF-8 bytes or fewer`);
  if (typeof options.value !== "boolean" && !(typeof options.value === "number" && Number.isFinite(options.value))) {
    throw new TypeError(`${where}: "value" must be a finite number or a boolean`);
  }
  for (const field of ["runId", "stepId"] as const) {
    if (options[field] !== undefined && (typeof options[field] !== "string" || options[field] === ""))
      throw new TypeError(`${where}: "${field}" must be a non-empty string`);
  }
}

const scoreUpdate = (options: ScoreOptions): MetadataUpdate => ({ kind: scoreKind, op: "merge", values: { [options.name]: { value: options.value } } });

function userland(values: Record<string, unknown>, kind: string, op: "set" | "merge", where: string): MetadataUpdate {
  const [update] = validateMetadataUpdates([{ kind: `userland.${kind}`, op, values }], where);
  return update as MetadataUpdate;
}

/** `client.metadata`: metadata for the current step (inside `step.run`) or a given run. */
export interface MetadataBuilder {
  /** Targets this run (default: the current run, inside a `step.run` callback). */
  run(runId: string): MetadataBuilder;
  /** Targets one step of the run, by its id as written in code. */
  step(stepId: string): MetadataBuilder;
  /** Replaces the values of kind `userland.<kind>` (default "default"). */
  set(values: Record<string, unknown>, kind?: string): Promise<void>;
  /** Merges the values into kind `userland.<kind>`. */
  update(values: Record<string, unknown>, kind?: string): Promise<void>;
}

/** The client side: writes into the running step when there is one, else through `writer`. */
export function createClientMetadata(writer: () => MetadataWriter) {
  const write = async (target: { runId?: string; stepId?: string }, update: MetadataUpdate, scopeInStep: string, where: string) => {
    const scope = currentStep.getStore();
    if (scope && (target.runId === undefined || target.runId === scope.runId) && target.stepId === undefined) {
      addToStep(scope, { ...update, scope: scopeInStep });
      return;
    }
    const runId = target.runId ?? scope?.runId;
    if (!runId) throw new TypeError(`${where}: outside a step.run callback, name the run (runId)`);
    await writer()(runId, [update], target.stepId !== undefined ? { step_id: target.stepId } : {});
  };
  const builder = (target: { runId?: string; stepId?: string }): MetadataBuilder => ({
    run: (runId) => builder({ ...target, runId }),
    step: (stepId) => builder({ ...target, stepId }),
    set: (values, kind = "default") => write(target, userland(values, kind, "set", "metadata.set"), "step", "metadata.set"),
    update: (values, kind = "default") => write(target, userland(values, kind, "merge", "metadata.update"), "step", "metadata.update"),
  });
  const score = async (options: ScoreOptions): Promise<void> => {
    checkScore(options, "score");
    const target: { runId?: string; stepId?: string } = {};
    if (options.runId !== undefined) target.runId = options.runId;
    if (options.stepId !== undefined) target.stepId = options.stepId;
    await write(target, scoreUpdate(options), "run", "score");
  };
  return { metadata: builder({}), score };
}

/** `step.metadata(id)`: a durable step that writes run metadata once. */
export interface StepMetadata {
  set(values: Record<string, unknown>, kind?: string): Promise<void>;
  update(values: Record<string, unknown>, kind?: string): Promise<void>;
}

/** `step.metadata` and `step.score`: durable steps whose op carries a run-scoped update. */
export function createStepMetadataTools(request: (r: StepRequest) => Promise<unknown>) {
  const durable = (idInput: StepIdInput, tool: string, update: () => MetadataUpdate): Promise<void> => {
    const { id, displayName } = readStepId(idInput, tool);
    let checked: MetadataUpdate;
    try {
      checked = update();
    } catch (error) {
      return Promise.reject(error);
    }
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      name: id,
      opts: { type: "step.metadata" },
      fn: () => {
        const scope = currentStep.getStore();
        if (scope) addToStep(scope, { ...checked, scope: "run" });
        return null;
      },
    }).then(() => undefined);
  };
  return {
    metadata: (idInput: StepIdInput): StepMetadata => ({
      set: (values, kind = "default") => durable(idInput, "step.metadata", () => userland(values, kind, "set", "step.metadata")),
      update: (values, kind = "default") => durable(idInput, "step.metadata", () => userland(values, kind, "merge", "step.metadata")),
    }),
    score: (idInput: StepIdInput, options: ScoreOptions): Promise<void> =>
      durable(idInput, "step.score", () => {
        checkScore(options, "step.score");
        return scoreUpdate(options);
      }),
  };
}
