/**
 * @module realtime
 * Realtime publish/subscribe, as Inngest's `inngest/realtime` defines it: a message is
 * published to a topic of a channel; subscribers of the channel (for some of its
 * topics) receive it while connected. Not durable: a message published while no one
 * listens is gone.
 */

/** One published message. */
export interface RealtimeMessage {
  channel: string;
  topic: string;
  /** Any JSON value. */
  data: unknown;
  /** The run that published it, when a function did. */
  runId?: string;
  /** The function of that run. */
  fnId?: string;
  /** When it was published, epoch ms. */
  createdAt: number;
}

/**
 * Carries messages from publishers to subscribers: in one process a function call; a
 * store shared by processes can carry them between nodes (Postgres: LISTEN/NOTIFY).
 * Delivery is best effort and at most once.
 */
export interface RealtimeBus {
  /** Delivers to this process's subscribers at once, and to other nodes' when the bus spans nodes. */
  publish(message: RealtimeMessage): Promise<void>;
  /** Calls `listener` with every message published to `channel` from now on; returns the unsubscribe. */
  subscribe(channel: string, listener: (message: RealtimeMessage) => void): () => void;
}

/** Longest channel or topic name. */
export const maxRealtimeNameLength = 256;

/** Largest message (its JSON `data`) a publish may carry, in bytes: 512 KiB. */
export const maxRealtimeMessageBytes = 512 * 1024;
