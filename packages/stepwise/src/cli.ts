/**
 * @module stepwise/cli
 * The CLI as a library: `runCli(argv)`, `runServer(options)`, `main()`.
 */
export { main, runCli, runServer } from "@stepwise/cli";
