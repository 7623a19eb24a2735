/**
 * @module use-live
 * Loads data, and loads it again whenever `key` changes or the server reports activity
 * (server-sent events).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { subscribe } from "../api.ts";

export function useLive<T>(
  load: () => Promise<T>,
  key: string,
): { data: T | undefined; error: unknown; reload: () => Promise<void>; setData: (value: T) => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const latest = useRef(load);
  latest.current = load;
  const reload = useCallback(async () => {
    try {
      setData(await latest.current());
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` names what the loader reads; a new key means load again
  useEffect(() => {
    void reload();
    return subscribe(() => void reload());
  }, [reload, key]);
  return { data, error, reload, setData };
}
