#!/usr/bin/env bash
# Makes the Python virtual environment the SDK conformance tests use: the official Daytona SDK
# (and the MCP SDK, and `pyyaml` and `jsonschema` for the OpenAPI request checker) from the
# package registry, in `$RALPH_TOWN_SDK_VENV` (default `target/sdk-venv`). The tests never
# install anything themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${RALPH_TOWN_SDK_VENV:-target/sdk-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import daytona, mcp, yaml, jsonschema' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check daytona mcp pyyaml jsonschema
"$venv/bin/python" -c 'import daytona, mcp, yaml, jsonschema'
echo "SDKs installed in $venv"
