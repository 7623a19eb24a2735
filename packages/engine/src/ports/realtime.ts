/**
 * @module realtime
 * The realtime bus of one process: `publish` calls this process's subscribers of the
 * channel at once. A store shared by processes provides its own (Postgres:
 * `PostgresStore.realtime`, over LISTEN/NOTIFY).
 */
import type { RealtimeBus, RealtimeMessage } from "@stepwise/protocol";

export type { RealtimeBus, RealtimeMessage } from "@stepwise/protocol";

/** A bus whose messages stay in this process; `deliver` is what a cross-node bus calls for messages from elsewhere. */
export class InProcessRealtimeBus implements RealtimeBus {
  private readonly channels = new Map<string, Set<(message: RealtimeMessage) => void>>();

  async publish(message: RealtimeMessage): Promise<void> {
    this.deliver(message);
  }

  /** Calls this process's subscribers of the message's channel; a throwing listener does not stop the others. */
  deliver(message: RealtimeMessage): void {
    for (const listener of [...(this.channels.get(message.channel) ?? [])]) {
      try {
        listener(message);
      } catch {
        // a subscriber's failure is its own
      }
    }
  }

  subscribe(channel: string, listener: (message: RealtimeMessage) => void): () => void {
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    return () => {
      const current = this.channels.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.channels.delete(channel);
    };
  }

  /** How many subscriptions are open (all channels). */
  get size(): number {
    let n = 0;
    for (const set of this.channels.values()) n += set.size;
    return n;
  }
}

export function createInProcessRealtimeBus(): InProcessRealtimeBus {
  return new InProcessRealtimeBus();
}
