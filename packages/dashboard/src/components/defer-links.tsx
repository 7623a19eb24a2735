/**
 * @module defer-links
 * A run's `defer()` links, for the run detail facts: the run that deferred it, and the
 * runs it deferred (started once it ended).
 */
import type { RunDetails } from "../api.ts";
import { Link, StatusBadge } from "./common.tsx";

export function DeferLinks({ run }: { run: RunDetails }) {
  const children = run.deferred_runs ?? [];
  return (
    <>
      {run.parent_run_id ? (
        <>
          <dt>deferred by</dt>
          <dd data-testid="deferred-by">
            <Link to={`/runs/${run.parent_run_id}`} className="mono">
              {run.parent_run_id}
            </Link>
          </dd>
        </>
      ) : null}
      {children.length ? (
        <>
          <dt>deferred runs</dt>
          <dd data-testid="deferred-runs">
            {children.map((child) => (
              <div key={child.run_id}>
                <StatusBadge status={child.status} /> {child.function_id}{" "}
                <Link to={`/runs/${child.run_id}`} className="mono">
                  {child.run_id}
                </Link>
              </div>
            ))}
          </dd>
        </>
      ) : null}
    </>
  );
}
