/**
 * @module @stepwise/cli
 * `stepwise dev` and `stepwise start`, and `runServer` for programs that embed them.
 */
export { helpText, main, runCli, stopOnSignals } from "./cli.ts";
export { defaultDiscoveryUrls, startDiscovery } from "./discovery.ts";
export { CLIError } from "./errors.ts";
export { type RunningServer, type RunServerOptions, runServer } from "./run-server.ts";
