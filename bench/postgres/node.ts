/**
 * One engine node for the multi-node rows of bench/postgres.ts: a child process (forked,
 * with an IPC channel) running an engine with its defaults on the database in argv[2].
 *
 * Messages from the parent: "mark" (start counting CPU time and runs ended here from
 * now; replies "marked"), "report" (reply `{ cpuMs }`: this process's CPU since the mark), "stop".
 * To the parent: "ready" once started, and `{ ended: n }` (runs ended here since the
 * mark, sent at most every 50 ms while it changes).
 */
import { Stepwise, silentLogger } from "stepwise";
import { createEngine } from "stepwise/engine";
import { defineBenchFunctions } from "./functions.ts";

const database = process.argv[2] as string;
const send = (message: unknown) => process.send?.(message);

const client = new Stepwise({ id: "bench", logger: silentLogger });
const engine = await createEngine({ database, logger: silentLogger });
engine.register({ client, functions: defineBenchFunctions(client) });
await engine.start();

let cpuMark = process.cpuUsage();
let ended = 0;
let reported = 0;
engine.onRunEnded(() => void ended++);
const ticker = setInterval(() => {
  if (ended !== reported) send({ ended: (reported = ended) });
}, 50);

process.on("message", async (message) => {
  if (message === "mark") {
    ended = 0;
    reported = 0;
    cpuMark = process.cpuUsage();
    send("marked");
  } else if (message === "report") {
    const used = process.cpuUsage(cpuMark);
    send({ cpuMs: (used.user + used.system) / 1000 });
  } else if (message === "stop") {
    clearInterval(ticker);
    await engine.close();
    process.exit(0);
  }
});
send("ready");
