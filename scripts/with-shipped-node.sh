#!/usr/bin/env bash
# Runs a command under the Node.js major version the Docker images ship (.nvmrc), so the version
# that ships is the version tested. Usage: scripts/with-shipped-node.sh <command...>
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/with-node.sh "$(tr -d ' \nv' < .nvmrc)" "$@"
