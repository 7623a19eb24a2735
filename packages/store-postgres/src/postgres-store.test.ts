import type { Store } from "@stepwise/engine";
import { runStoreConformance } from "@stepwise/store-conformance";
import { afterAll, beforeAll } from "vitest";
import { PostgresStore } from "./postgres-store.ts";
import { createTestDatabase, type TestDatabase } from "./testing.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const open = async () => {
  const store = new PostgresStore({ url: db.url, notify: false });
  await store.migrate();
  return store;
};

runStoreConformance("Postgres", {
  async create() {
    await db.reset();
    return open();
  },
  destroy: (store: Store) => store.close(),
  // a second pool on the same database, as another node would open
  createPeer: () => open(),
});
