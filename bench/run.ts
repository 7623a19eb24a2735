/**
 * `npm run bench [scenario...]`: runs the benchmarks, prints one table and writes it to
 * bench/results/<timestamp>.md and bench/results/latest.md.
 */
import { execFileSync, execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import type { Row } from "./harness.ts";
import { postgres } from "./postgres.ts";
import { connectServed } from "./scenarios/connect.ts";
import { core } from "./scenarios/core.ts";
import { dashboard } from "./scenarios/dashboard.ts";
import { flow } from "./scenarios/flow.ts";
import { served } from "./scenarios/served.ts";
import { servedFloor } from "./scenarios/served-floor.ts";
import { shapes } from "./scenarios/shapes.ts";
import { sleeping, waits } from "./scenarios/waits.ts";

const scenarios: Record<string, () => Promise<Row[]>> = { core, shapes, waits, served, flow, dashboard };
/** Parts of scenarios that can be run alone. */
const parts: Record<string, () => Promise<Row[]>> = { sleeps: sleeping, postgres, connect: connectServed, "served-floor": servedFloor };

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in scenarios) && !(name in parts));
if (unknown.length) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}

// Each scenario runs in a fresh process, so one's heap and caches do not skew the next.
const child = process.env.STEPWISE_BENCH_CHILD;
if (child) {
  const run = scenarios[child] ?? parts[child];
  process.stdout.write(`${JSON.stringify(await (run as () => Promise<Row[]>)())}\n`);
  process.exit(0);
}

const rows: Row[] = [];
for (const name of Object.keys({ ...scenarios, ...parts })) {
  if (name in parts && !wanted.includes(name)) continue;
  if (wanted.length && !wanted.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, STEPWISE_BENCH_CHILD: name },
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 * 1024 * 1024,
  });
  rows.push(...(JSON.parse(out.toString().trim().split("\n").at(-1) ?? "[]") as Row[]));
}

let commit = "unknown";
try {
  commit = execSync("git rev-parse --short HEAD", { stdio: ["ignore", "pipe", "ignore"] })
    .toString()
    .trim();
} catch {}
const header = `Stepwise bench — ${new Date().toISOString()} — commit ${commit} — Node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
const width = (key: keyof Row) => Math.max(key.length, ...rows.map((r) => (r[key] ?? "").length));
const cols: Array<keyof Row> = ["scenario", "metric", "value", "target"];
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width(cols[i] as keyof Row))).join(" | ")} |`;
const table = [line(cols as string[]), `|${cols.map((c) => "-".repeat(width(c) + 2)).join("|")}|`, ...rows.map((r) => line(cols.map((c) => r[c] ?? "")))].join(
  "\n",
);
const text = `${header}\n\n${table}\n`;
console.log(text);
mkdirSync("bench/results", { recursive: true });
writeFileSync(`bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.md`, text);
// latest.md is always a full table: a run of some scenarios only keeps its timestamped file
if (wanted.length === 0) writeFileSync("bench/results/latest.md", text);
