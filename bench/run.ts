/**
 * `npm run bench [scenario...]`: runs the benchmarks, prints one table and writes it to
 * bench/results/<timestamp>.md and bench/results/latest.md.
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { Row } from "./harness.ts";
import { core } from "./scenarios/core.ts";
import { waits } from "./scenarios/waits.ts";

const scenarios: Record<string, () => Promise<Row[]>> = { core, waits };

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in scenarios));
if (unknown.length) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}

const rows: Row[] = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (wanted.length && !wanted.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  rows.push(...(await run()));
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
writeFileSync("bench/results/latest.md", text);
