/**
 * @module checkpointer
 * Moves WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside
 * whichever COMMIT crosses the threshold and fsyncs the database file, stalling the
 * engine for milliseconds (measured: 1-step send→completed p99 8.2 ms with it, 1.3 ms
 * without). Here the main connection never checkpoints; a worker thread with its own
 * connection runs `wal_checkpoint(PASSIVE)` every `intervalMs`, which never blocks
 * writers.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const workerSource = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.filename);
db.pragma("busy_timeout = 5000");
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch (error) { parentPort.postMessage(String(error && error.message)); }
}, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message === "stop") { clearInterval(timer); try { db.pragma("wal_checkpoint(PASSIVE)"); } finally { db.close(); } parentPort.close(); }
});
`;

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(filename: string, intervalMs: number, onError: (message: string) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(workerSource, { eval: true, workerData: { driver, filename, intervalMs } });
    this.worker.unref();
    this.worker.on("message", onError);
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
  }

  async stop(): Promise<void> {
    // keep the process alive until the worker has checkpointed and exited
    this.worker.ref();
    this.worker.postMessage("stop");
    await this.exited;
  }
}
