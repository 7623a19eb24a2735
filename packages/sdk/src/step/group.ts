/**
 * @module group
 * `group.parallel(options?, fn)`: the steps `fn` starts are marked with a parallel mode
 * (`opts.parallelMode`, the official SDK's field), so `Promise.race` over them behaves as
 * a race: the engine calls the handler again as soon as any one of them settles, instead
 * of waiting for all, and branches still pending once the handler has moved past the race
 * are abandoned (status `Abandoned`, never run).
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** How steps started inside `group.parallel` are scheduled. */
export interface ParallelOptions {
  /** `"race"` (the default): continue as soon as the first branch settles. */
  mode?: "race";
}

const parallelScope = new AsyncLocalStorage<{ parallelMode: "race" }>();

/** The parallel mode of the `group.parallel` scope the caller is in, if any. */
export function currentParallelMode(): "race" | undefined {
  return parallelScope.getStore()?.parallelMode;
}

function parallel<T>(fn: () => T | Promise<T>): Promise<Awaited<T>>;
function parallel<T>(options: ParallelOptions, fn: () => T | Promise<T>): Promise<Awaited<T>>;
async function parallel<T>(optionsOrFn: ParallelOptions | (() => T | Promise<T>), maybeFn?: () => T | Promise<T>): Promise<Awaited<T>> {
  const options: ParallelOptions = typeof optionsOrFn === "function" ? {} : (optionsOrFn ?? {});
  const fn = typeof optionsOrFn === "function" ? optionsOrFn : maybeFn;
  if (typeof options !== "object") throw new TypeError("group.parallel: the options must be an object");
  if (typeof fn !== "function") throw new TypeError("group.parallel: the callback must be a function");
  const mode = options.mode ?? "race";
  if (mode !== "race") throw new TypeError(`group.parallel: "mode" must be "race", got ${JSON.stringify(mode)}`);
  return (await parallelScope.run({ parallelMode: mode }, fn)) as Awaited<T>;
}

/** Group tools, shaped as the official SDK's `group`. */
export const group = {
  /**
   * Runs `fn` with every step it starts marked as part of a race: with
   * `Promise.race([step.run("a", …), step.run("b", …)])` the first branch to settle wins
   * and the handler continues at once; the other branches are abandoned.
   */
  parallel,
};
