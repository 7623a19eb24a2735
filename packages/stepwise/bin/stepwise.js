#!/usr/bin/env node
// The `stepwise` command. Runs the built CLI; inside the source repository (no dist/ yet)
// it runs the TypeScript sources through tsx instead.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/bin.js", import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  const source = fileURLToPath(new URL("../src/bin.ts", import.meta.url));
  const result = spawnSync(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", source, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
