/**
 * @module bench/clients
 * The measurement behind the store's choice of client (see README.md): the same hot
 * operation, a claim (`FOR UPDATE SKIP LOCKED`) and its commit (delete the item, insert
 * the next), run by 8 concurrent loops on node-postgres (`pg`) and on `postgres`.
 *
 *   node --import tsx packages/store-postgres/bench/clients.ts [postgres://…/db]
 */
import pg from "pg";
import postgres from "postgres";

const url = process.argv[2] ?? "postgres://postgres@127.0.0.1:5432/test";
const loops = 8;
const perLoop = 500;

const setup = `DROP TABLE IF EXISTS bench_queue;
CREATE TABLE bench_queue (id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, available_at BIGINT NOT NULL, token INTEGER NOT NULL DEFAULT 0);
CREATE INDEX ON bench_queue (available_at);
INSERT INTO bench_queue (run_id, available_at) SELECT 'r' || g, g FROM generate_series(1, 5000) AS g;`;
const claim = "SELECT id, run_id FROM bench_queue WHERE available_at <= $1 ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED";
const lease = "UPDATE bench_queue SET available_at = $1, token = token + 1 WHERE id = $2 RETURNING token";
const done = "DELETE FROM bench_queue WHERE id = $1 AND token = $2";
const next = "INSERT INTO bench_queue (run_id, available_at) VALUES ($1, $2)";

async function timed(name: string, loop: () => Promise<void>) {
  const started = performance.now();
  await Promise.all(Array.from({ length: loops }, loop));
  const ms = performance.now() - started;
  console.log(`${name}: ${Math.round((loops * perLoop) / (ms / 1000))} claim+commit/s (${loops} loops × ${perLoop})`);
}

async function withPg() {
  const pool = new pg.Pool({ connectionString: url, max: loops });
  await pool.query(setup);
  await timed("pg (node-postgres)", async () => {
    for (let i = 0; i < perLoop; i++) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const [row] = (await client.query(claim, [1e12])).rows;
        const { token } = (await client.query(lease, [2e12, row.id])).rows[0];
        await client.query("COMMIT");
        await client.query("BEGIN");
        await client.query(done, [row.id, token]);
        await client.query(next, [row.run_id, 1]);
        await client.query("COMMIT");
      } finally {
        client.release();
      }
    }
  });
  await pool.end();
}

async function withPostgres() {
  const sql = postgres(url, { max: loops, onnotice: () => {} });
  await sql.unsafe(setup);
  await timed("postgres (porsager)", async () => {
    for (let i = 0; i < perLoop; i++) {
      const { id, run_id, token } = await sql.begin(async (tx) => {
        const [row] = await tx.unsafe(claim, [1e12]);
        const [leased] = await tx.unsafe(lease, [2e12, row!.id]);
        return { id: row!.id, run_id: row!.run_id, token: leased!.token };
      });
      // the commit's two writes are pipelined: sent together, one round trip
      await sql.begin((tx) => [tx.unsafe(done, [id, token]), tx.unsafe(next, [run_id, 1])]);
    }
  });
  await sql.end();
}

await withPg();
await withPostgres();
await withPg();
await withPostgres();
