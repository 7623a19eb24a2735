/**
 * Type tests: realtime channels and topics (`channel`, `topic`), `step.realtime.publish`
 * and `client.realtime.publish` checked against the topic's data type, and the messages
 * `subscribe` yields typed by the token's channel and topics.
 */
import { channel, getSubscriptionToken, Inngest, realtime, subscribe, topic } from "stepwise";
import { expectTypeOf } from "vitest";
import { z } from "zod";

const client = new Inngest({ id: "rt-types" });

const progress = channel({
  name: (orderId: string) => `order:${orderId}`,
  topics: { status: topic<{ state: "started" | "done" }>(), log: topic(z.string()), free: {} },
});
const global = realtime.channel({ name: "global", topics: { ticks: topic<number>() } });

expectTypeOf(global.name).toEqualTypeOf<"global">();
expectTypeOf(progress("1").name).toEqualTypeOf<string>();
// @ts-expect-error the channel's parameter is a string
progress(1);
// @ts-expect-error no such topic
progress("1").missing;

client.createFunction({ id: "publisher", triggers: [{ event: "rt/go" }] }, async ({ step }) => {
  const ch = progress("1");
  const sent = await step.realtime.publish("a", ch.status, { state: "done" });
  expectTypeOf(sent).toEqualTypeOf<{ state: "started" | "done" }>();
  await step.realtime.publish("b", ch.log, "text");
  await step.realtime.publish("c", ch.free, { anything: true });
  await step.realtime.publish("d", global.ticks, 5);
  // @ts-expect-error "paused" is not a status
  await step.realtime.publish("e", ch.status, { state: "paused" });
  // @ts-expect-error the log topic carries strings
  await step.realtime.publish("f", ch.log, 5);
  // @ts-expect-error ticks are numbers
  await client.realtime.publish(global.ticks, "5");
  await client.realtime.publish(global.ticks, 6);
});

async function subscriber() {
  const token = await getSubscriptionToken(client, { channel: progress("1"), topics: ["status", "log"] });
  // @ts-expect-error not a topic of the channel
  await getSubscriptionToken(client, { channel: progress("1"), topics: ["nope"] });
  const stream = await subscribe(token);
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    const message = r.value;
    if (message.topic === "status") expectTypeOf(message.data).toEqualTypeOf<{ state: "started" | "done" }>();
    else {
      expectTypeOf(message.topic).toEqualTypeOf<"log">();
      expectTypeOf(message.data).toEqualTypeOf<string>();
    }
    expectTypeOf(message.channel).toEqualTypeOf<string>();
    expectTypeOf(message.createdAt).toEqualTypeOf<Date>();
  }
  await subscribe(token, (message) => {
    expectTypeOf(message.topic).toEqualTypeOf<"status" | "log">();
  });
  await client.realtime.subscribe({ channel: global, topics: ["ticks"] }, (message) => {
    expectTypeOf(message.data).toEqualTypeOf<number>();
  });
}
void subscriber;
