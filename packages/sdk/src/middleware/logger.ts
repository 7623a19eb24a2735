/**
 * @module middleware/logger
 * The shipped logger middleware, Inngest's built-in logging behaviour: `ctx.logger`
 * writes nothing while a call replays memoized steps (so a line is logged once per run,
 * not once per call), logs step and function errors, and is flushed at the end of
 * every call.
 *
 * It composes with the client's logger: without it, `ctx.logger` is the client's
 * `logger` itself and logs on every replay; with it, `ctx.logger` wraps that logger (or
 * the one given here), through its `child({ runID, eventName, functionName })` when the
 * logger has one.
 */
import type { Logger } from "@stepwise/protocol";
import { InngestMiddleware } from "./middleware.ts";

/** A logger that can be made child loggers of, as pino's and winston's can. */
interface ChildLogger extends Logger {
  child(fields: Record<string, unknown>): Logger;
}

/** A logger that has buffered lines to write out. */
interface FlushableLogger extends Logger {
  flush(): unknown;
}

/**
 * Forwards to a logger once `enable()` has been called; silent before. `flush()` calls
 * the logger's `flush` when it has one.
 */
export class ReplayAwareLogger implements Logger {
  private enabled = false;

  constructor(readonly target: Logger) {}

  /** Logging starts: memoization has ended. */
  enable(): void {
    this.enabled = true;
  }

  debug(message: string, ...args: unknown[]): void {
    if (this.enabled) this.target.debug(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    if (this.enabled) this.target.info(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    if (this.enabled) this.target.warn(message, ...args);
  }

  error(message: string, ...args: unknown[]): void {
    if (this.enabled) this.target.error(message, ...args);
  }

  async flush(): Promise<void> {
    const target = this.target as Partial<FlushableLogger>;
    if (typeof target.flush === "function") await target.flush();
  }
}

/** Options of `loggerMiddleware`. */
export interface LoggerMiddlewareOptions {
  /** Where to write. (Default: the client's `logger`.) */
  logger?: Logger;
}

/**
 * Makes `ctx.logger` replay-aware: silent until memoization ends, then forwarding to the
 * logger; an error outcome (step or function) is logged; the logger is flushed at the
 * end of each call.
 *
 * @example
 * const client = new Stepwise({ id: "shop", logger: pino(), middleware: [loggerMiddleware()] });
 */
export function loggerMiddleware(options: LoggerMiddlewareOptions = {}) {
  return new InngestMiddleware({
    name: "stepwise/logger",
    init({ client }) {
      return {
        onFunctionRun({ ctx, fn }) {
          const base = options.logger ?? client.logger;
          const fields = { runID: ctx.runId, eventName: ctx.event.name, functionName: fn.config.name };
          const target = typeof (base as Partial<ChildLogger>).child === "function" ? (base as ChildLogger).child(fields) : base;
          const logger = new ReplayAwareLogger(target);
          return {
            transformInput: () => ({ ctx: { logger: logger as Logger } }),
            beforeExecution: () => logger.enable(),
            transformOutput: ({ result }) => {
              if (result.error !== undefined) logger.error(result.error instanceof Error ? result.error.message : String(result.error), result.error);
            },
            beforeResponse: () => logger.flush(),
          };
        },
      };
    },
  });
}
