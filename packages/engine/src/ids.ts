/** Run, event and item ids: ULIDs, monotonic within a process so they sort by creation. */
import { monotonicFactory } from "ulid";

export const newId: () => string = monotonicFactory();
