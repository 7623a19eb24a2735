/**
 * Builds the dashboard from the current source for the browser tests, once: test files
 * run in parallel, and two `vite build`s at once (each empties `dist/` first) would let a
 * server serve a half-written directory. A lock directory serializes them, and a build
 * newer than every source file is kept.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dashboard = join(root, "packages/dashboard");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(join(dashboard, "dist/index.html")).mtimeMs;
  } catch {
    return 0;
  }
}

export async function buildDashboard(): Promise<void> {
  const lock = join(dashboard, ".build-lock");
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock left by a killed run is older than any build takes
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`dashboard build: ${lock} held for over a minute`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    const sources = Math.max(
      newestSource(join(dashboard, "src")),
      statSync(join(dashboard, "index.html")).mtimeMs,
      statSync(join(dashboard, "vite.config.ts")).mtimeMs,
    );
    if (builtAt() > sources) return;
    execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build"], { cwd: dashboard, stdio: "ignore" });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
