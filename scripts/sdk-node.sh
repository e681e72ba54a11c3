#!/usr/bin/env bash
# Installs the official Daytona TypeScript SDK (`@daytonaio/sdk`) that `tests/serve_sdk_ts.rs`
# drives, at the version pinned with every dependency in `tests/sdk-ts/package-lock.json`, into
# `tests/sdk-ts/node_modules` with `npm ci` (no install scripts run). Idempotent: nothing
# happens while the lock file is the one last installed. The tests never install anything
# themselves and need no network once this ran.
set -euo pipefail
cd "$(dirname "$0")/../tests/sdk-ts"
stamp=node_modules/.ralph-town-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node --input-type=module -e 'await import("@daytonaio/sdk")'
cp package-lock.json "$stamp"
echo "TypeScript SDK installed in tests/sdk-ts/node_modules"
