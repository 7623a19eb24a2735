import { OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readTopicRef, type TopicRef } from "../realtime/channel.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** Publishes for a step: the engine's bus in-process, the server's API when served. */
export type RealtimePublisher = (ref: TopicRef, data: unknown, where: string) => Promise<unknown>;

/** `step.realtime`: durable publishing. */
export interface RealtimeStepTools {
  /**
   * Publishes `data` to a topic of a channel as a step: memoized, so a retried or
   * replayed run does not publish it again. Returns the data. Its op is the official
   * SDK's: `StepPlanned` with `opts: { type: "step.realtime.publish" }`.
   */
  publish<TData>(id: StepIdInput, topic: TopicRef<TData>, data: NoInfer<TData>): Promise<TData>;
}

export function createRealtimeStep(request: (r: StepRequest) => Promise<unknown>, publish: RealtimePublisher | undefined): RealtimeStepTools {
  return {
    publish(idInput: StepIdInput, topic: TopicRef, data: unknown) {
      const { id, displayName } = readStepId(idInput, "step.realtime.publish");
      const where = `step.realtime.publish("${id}")`;
      try {
        readTopicRef(topic, where);
      } catch (error) {
        return Promise.reject(error);
      }
      return request({
        id,
        ...(displayName ? { displayName } : {}),
        op: OpCode.StepPlanned,
        opts: { type: "step.realtime.publish" },
        fn: async () => {
          if (!publish) throw new Error(`${where}: no realtime publisher in this call`);
          return publish(topic, data, where);
        },
      });
    },
  } as RealtimeStepTools;
}
