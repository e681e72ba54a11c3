#!/usr/bin/env bash
# Makes the Python virtual environment the SDK conformance tests use: the official Daytona SDK,
# the MCP SDK, and `pyyaml` and `jsonschema` for the OpenAPI checker, at the versions pinned in
# `scripts/sdk-requirements.txt`, in `$RALPH_TOWN_SDK_VENV` (default `target/sdk-venv`). The
# tests never install anything themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${RALPH_TOWN_SDK_VENV:-target/sdk-venv}
requirements=scripts/sdk-requirements.txt
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements"
"$venv/bin/python" -c 'import daytona, mcp, yaml, jsonschema'
cp "$requirements" "$stamp"
echo "SDKs installed in $venv"
