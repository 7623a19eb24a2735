/**
 * A v3 middleware that records every hook it sees (with its arguments) into a log, for
 * the middleware tests.
 */
import { InngestMiddleware, type RunOutcome } from "stepwise";

export type Entry = [name: string, hook: string, detail?: unknown];

function outcome(result: Readonly<RunOutcome>) {
  return result.error !== undefined ? { error: (result.error as Error).message } : { data: result.data };
}

/** Records into `log` as `[name, hook, detail]`. */
export function recorder(name: string, log: Entry[]) {
  return new InngestMiddleware({
    name,
    init({ fn }) {
      log.push([name, "init", fn ? fn.config.id : null]);
      return {
        onFunctionRun({ ctx, steps }) {
          log.push([name, "onFunctionRun", { runId: typeof ctx.runId, event: ctx.event.name, steps: steps.length }]);
          return {
            transformInput: ({ ctx: current, steps: memo }) => {
              log.push([name, "transformInput", { steps: memo.map((s) => s.data), seen: Object.keys(current).filter((k) => k.startsWith("by_")) }]);
              return { ctx: { [`by_${name}`]: true } };
            },
            beforeMemoization: () => void log.push([name, "beforeMemoization"]),
            afterMemoization: () => void log.push([name, "afterMemoization"]),
            beforeExecution: () => void log.push([name, "beforeExecution"]),
            afterExecution: () => void log.push([name, "afterExecution"]),
            transformOutput: ({ result, step }) => void log.push([name, "transformOutput", { ...outcome(result), step: step?.displayName ?? null }]),
            finished: ({ result }) => void log.push([name, "finished", outcome(result)]),
            beforeResponse: () => void log.push([name, "beforeResponse"]),
          };
        },
        onSendEvent() {
          return {
            transformInput: ({ payloads }) => void log.push([name, "send.transformInput", payloads.map((p) => p.name)]),
            transformOutput: ({ result }) => void log.push([name, "send.transformOutput", result.ids.length]),
          };
        },
      };
    },
  });
}
