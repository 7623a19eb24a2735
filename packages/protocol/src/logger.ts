/**
 * @module logger
 * The logger interface Stepwise writes to (any pino/winston/console-like object fits),
 * and a console default that is quiet below `info`.
 */

export interface Logger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

export const consoleLogger: Logger = {
  debug: () => {},
  info: (message, ...args) => console.info(message, ...args),
  warn: (message, ...args) => console.warn(message, ...args),
  error: (message, ...args) => console.error(message, ...args),
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
