#!/bin/sh
# As the official image does: `docker run image -e 'code'` or `docker run image script.js` runs
# node with those arguments; a command that names a program runs that program.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
