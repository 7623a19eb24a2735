#!/usr/bin/env bash
# Runs the official inngest-js SDK's own integration tests against `stepwise dev`.
#
#   scripts/sdk-integration.sh <inngest-js checkout> [test path ...]
#
# The checkout needs its dependencies (in it: `pnpm install --filter inngest...
# --filter @inngest/test-harness...`, then in packages/inngest `npx genversion --semi
# --double --es6 ./src/version.ts`). Without test paths it runs the suites Stepwise
# answers for: defer, sessions, scoring, scorer, traces, retries, onFailure, logger,
# sub-second durations, dispatch validation, checkpointing and middleware (about 6
# minutes; docs/compatibility.md has the figures). The SDK's harness expects a dev
# server on localhost:8288, so that port must be free. Not part of `npm test`: it needs a
# checkout of another repository and its packages.
set -euo pipefail
sdk="${1:?usage: scripts/sdk-integration.sh <inngest-js checkout> [test path ...]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$(cd "$sdk/packages/inngest" && pwd)"
if [ "$#" -eq 0 ]; then
  set -- src/test/integration/defer src/test/integration/sessions.test.ts src/test/integration/scoring \
    src/test/integration/scorer src/test/integration/traces src/test/integration/retry.test.ts \
    src/test/integration/retryAfterError.test.ts src/test/integration/onFailure.test.ts \
    src/test/integration/logger.test.ts src/test/integration/subSecondDurations.test.ts \
    src/test/integration/dispatchValidation.test.ts src/test/integration/checkpointing \
    src/test/integration/middleware
fi
work="$(mktemp -d)"
node --conditions=stepwise-source --import tsx "$root/packages/stepwise/bin/stepwise.js" dev \
  --port 8288 --db "$work/dev.db" --no-discovery >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:8288/health >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
cd "$pkg"
DEV_SERVER_ENABLED=0 npx vitest run --typecheck.enabled=false --config vitest.config.integration.ts "$@"
