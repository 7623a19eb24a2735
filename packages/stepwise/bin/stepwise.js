#!/usr/bin/env node
// The `stepwise` command. Runs the built CLI; inside the source repository (no dist/ yet)
// it runs the TypeScript sources through tsx in a child process, forwarding signals.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/bin.js", import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  const source = fileURLToPath(new URL("../src/bin.ts", import.meta.url));
  const child = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", source, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
