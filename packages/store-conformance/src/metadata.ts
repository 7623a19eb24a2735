import { StepStatus } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, useStore } from "./fixtures.ts";

/** Event meta (sessions), step metadata and run metadata: stored exactly, read back. */
export function metadataSuite(factory: StoreFactory) {
  describe("metadata", () => {
    const store = useStore(factory);

    it("stores an event's meta exactly, and events without meta have none", async () => {
      const meta = { sessions: { chat: "c1", user: 42, old: null }, propagated_sessions: { org: "o1" }, extra: { nested: [1, "é"] } };
      const withMeta = { ...event("chat/message"), meta };
      const plain = event("chat/message");
      const r = run([withMeta]);
      await store().ingestEvents({ events: [withMeta, plain], runs: [r], items: [] });
      expect((await store().getEvent(withMeta.internalId))?.meta).toEqual(meta);
      expect(await store().getEvent(plain.internalId)).not.toHaveProperty("meta");
      expect((await store().loadRunState(r.id))?.events[0]?.meta).toEqual(meta);
      expect((await store().listEvents({ name: "chat/message", limit: 5 })).find((e) => e.internalId === withMeta.internalId)?.meta).toEqual(meta);
    });

    it("stores a step's metadata and keeps it when a later write of the step carries none", async () => {
      const e = event();
      const r = run([e]);
      await store().ingestEvents({ events: [e], runs: [r], items: [] });
      const metadata = [
        { kind: "userland.default", scope: "step", op: "set" as const, values: { model: "m1", tokens: 12 } },
        { kind: "inngest.score", scope: "run", op: "merge" as const, values: { quality: { value: 0.5 } } },
      ];
      await store().saveStep({ runId: r.id, id: "s1", name: "ask", op: "StepRun", status: StepStatus.Errored, attempts: 1, metadata });
      expect((await store().listSteps(r.id))[0]?.metadata).toEqual(metadata);
      await store().saveStep({ runId: r.id, id: "s1", name: "ask", op: "StepRun", status: StepStatus.Completed, attempts: 2, output: 1 });
      const [step] = await store().listSteps(r.id);
      expect(step).toMatchObject({ status: StepStatus.Completed, metadata });
      expect((await store().loadRunState(r.id))?.steps[0]?.metadata).toEqual(metadata);
      await store().saveStep({ runId: r.id, id: "s2", name: "plain", op: "StepRun", status: StepStatus.Completed, attempts: 1, output: 2 });
      expect((await store().listSteps(r.id)).find((s) => s.id === "s2")).not.toHaveProperty("metadata");
    });

    it("appends run metadata in order, and refuses it for an unknown run", async () => {
      const e = event();
      const r = run([e]);
      const other = run([e], "app-other");
      await store().ingestEvents({ events: [e], runs: [r, other], items: [] });
      const first = {
        runId: r.id,
        target: { run_id: r.id },
        updates: [{ kind: "inngest.score", op: "merge" as const, values: { a: { value: 1 } } }],
        createdAt: 5,
      };
      const second = {
        runId: r.id,
        target: { run_id: r.id, step_id: "ask", step_attempt: 0 },
        updates: [{ kind: "userland.default", op: "set" as const, values: { x: "y" } }],
        createdAt: 6,
      };
      expect(await store().addRunMetadata(first)).toBe(true);
      expect(await store().addRunMetadata(second)).toBe(true);
      expect(await store().addRunMetadata({ ...first, runId: other.id, target: { run_id: other.id } })).toBe(true);
      expect(await store().listRunMetadata(r.id)).toEqual([first, second]);
      expect(await store().addRunMetadata({ ...first, runId: "no-such-run", target: { run_id: "no-such-run" } })).toBe(false);
      expect(await store().listRunMetadata("no-such-run")).toEqual([]);
    });
  });
}
