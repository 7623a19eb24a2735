/**
 * Type tests: a client without schemas types events as the official SDK v4 does for an
 * untyped client, so ordinary Inngest code compiles unchanged under `strict`. Each
 * assertion is made against both SDKs.
 */
import { Inngest as OfficialInngest } from "inngest";
import { Inngest, type ReceivedEvent } from "stepwise";
import { expectTypeOf } from "vitest";

// biome-ignore lint/suspicious/noExplicitAny: what both SDKs type untyped data as
type AnyData = Record<string, any>;

const ours = new Inngest({ id: "plain" });
const official = new OfficialInngest({ id: "plain" });

// ---- event.data is Record<string, any> ---------------------------------------------
ours.createFunction({ id: "a", triggers: [{ event: "app/anything" }] }, async ({ event, step }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
  expectTypeOf(event.name).toEqualTypeOf<"app/anything">();
  // Any field reads and narrows freely, as in Inngest.
  const n: number = event.data.count;
  const s: string = event.data.nested.deep.value;
  const waited = await step.waitForEvent("w", { event: "app/other", timeout: "1h" });
  expectTypeOf(waited).toEqualTypeOf<ReceivedEvent<"app/other", AnyData> | null>();
  if (waited) {
    expectTypeOf(waited.data).toEqualTypeOf<AnyData>();
    const id: string = waited.data.id;
    void id;
  }
  return { n, s };
});
official.createFunction({ id: "a", triggers: [{ event: "app/anything" }] }, async ({ event, step }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
  const n: number = event.data.count;
  const s: string = event.data.nested.deep.value;
  const waited = await step.waitForEvent("w", { event: "app/other", timeout: "1h" });
  if (waited) {
    expectTypeOf(waited.data).toEqualTypeOf<AnyData>();
    const id: string = waited.data.id;
    void id;
  }
  return { n, s };
});

// The v3 argument form, several triggers, wildcards and no triggers at all.
ours.createFunction({ id: "b" }, { event: "x/y" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
});
ours.createFunction({ id: "c" }, [{ event: "x/a" }, { event: "x/*" }], async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
});
ours.createFunction({ id: "d" }, [], async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
});
ours.createFunction({ id: "e" }, async ({ event }) => {
  expectTypeOf(event.data).toEqualTypeOf<AnyData>();
});

// ---- send takes any name and data ---------------------------------------------------
void ours.send({ name: "anything", data: { x: 1, y: { z: [1, 2] } } });
void ours.send([{ name: "a" }, { name: "b", data: {}, user: { id: 1 }, id: "key", ts: 1_700_000_000_000 }]);
void official.send({ name: "anything", data: { x: 1, y: { z: [1, 2] } } });
// Still an event: a name is required.
// @ts-expect-error: no name
void ours.send({ data: {} });

// ---- step.invoke: the function's JSON output, as Inngest types it -------------------
const ourChild = ours.createFunction({ id: "child", triggers: [{ event: "x/child" }] }, async ({ event }) => ({ n: event.data.n, at: new Date() }));
const officialChild = official.createFunction({ id: "child", triggers: [{ event: "x/child" }] }, async ({ event }) => ({ n: event.data.n, at: new Date() }));
ours.createFunction({ id: "parent", triggers: [{ event: "x/parent" }] }, async ({ step }) => {
  const result = await step.invoke("child", { function: ourChild, data: { n: 1 } });
  // biome-ignore lint/suspicious/noExplicitAny: `n` is read from untyped data
  expectTypeOf(result).toEqualTypeOf<{ n: any; at: string }>();
  // Untyped targets take any data, or none.
  await step.invoke("child-no-data", { function: ourChild });
  expectTypeOf(await step.invoke("by-id", { function: "plain-child" })).toEqualTypeOf<unknown>();
  await step.sendEvent("any", { name: "whatever", data: { a: 1 } });
});
official.createFunction({ id: "parent", triggers: [{ event: "x/parent" }] }, async ({ step }) => {
  const result = await step.invoke("child", { function: officialChild, data: { n: 1 } });
  expectTypeOf(result.at).toEqualTypeOf<string>();
  // biome-ignore lint/suspicious/noExplicitAny: `n` is read from untyped data
  expectTypeOf(result.n).toEqualTypeOf<any>();
});

// ---- onFailure: the failed run's event is untyped too -------------------------------
ours.createFunction(
  {
    id: "f",
    triggers: [{ event: "x/f" }],
    onFailure: async ({ event, error }) => {
      expectTypeOf(error).toEqualTypeOf<Error>();
      expectTypeOf(event.data.event.data).toEqualTypeOf<AnyData>();
    },
  },
  async () => null,
);
