/**
 * Realtime under `stepwise/test`: `InngestTestEngine` publishes on a bus of its own (or
 * the one passed as `realtime`), never over the network.
 */
import { channel, Stepwise, silentLogger, topic } from "stepwise";
import { createInProcessRealtimeBus, type RealtimeMessage } from "stepwise/engine";
import { InngestTestEngine } from "stepwise/test";
import { describe, expect, it } from "vitest";

const ch = channel({ name: "kit", topics: { t: topic<string>() } });

describe("realtime in the test kit", () => {
  it("InngestTestEngine: step.realtime.publish and client.realtime.publish go to the given bus, with the run's id", async () => {
    // a client pointing at a server that does not exist: anything sent over HTTP would fail the test
    const client = new Stepwise({ id: "kit", baseUrl: "http://127.0.0.1:9", isDev: true, logger: silentLogger });
    const fn = client.createFunction({ id: "kit", triggers: [{ event: "kit/go" }] }, async ({ step }) => {
      const echoed = await step.realtime.publish("durable", ch.t, "one");
      await client.realtime.publish(ch.t, "two");
      return echoed;
    });
    const bus = createInProcessRealtimeBus();
    const got: RealtimeMessage[] = [];
    bus.subscribe("kit", (m) => got.push(m));
    const { result, error, ctx } = await new InngestTestEngine({ function: fn, realtime: bus }).execute();
    expect(error).toBeUndefined();
    expect(result).toBe("one");
    // step.realtime.publish is a mock too, as every step tool is
    expect(ctx.step.realtime.publish).toHaveBeenCalledWith("durable", ch.t, "one");
    expect(got.map((m) => [m.topic, m.data])).toEqual([
      ["t", "one"],
      ["t", "two"],
    ]);
    expect(got[0]?.runId).toBeTruthy();
    expect(got[1]?.runId).toBe(got[0]?.runId);
    // and without a bus given, nothing is attempted over the network either
    expect((await new InngestTestEngine({ function: fn }).execute()).error).toBeUndefined();
  });
});
