#!/usr/bin/env bash
# Removes what one run of the Docker test made, in order: the compose project (containers,
# networks, volumes, the images it built), then the private engine if the run started one (its
# containers, the daemon, what it left mounted), then the run's folder. The test runs it when it
# ends, and a watchdog runs it when the test process dies before that. Safe to run twice.
# Usage: teardown.sh <run folder>
set -u
base=$1
[ -f "$base/run.env" ] || exit 0
# DOCKER_HOST, DOCKER_CONFIG, PATH and ENGINE_PID_FILE (empty for an engine found running), as
# the test wrote them when it set up the run.
# shellcheck disable=SC1091
. "$base/run.env"
export DOCKER_HOST DOCKER_CONFIG PATH

if [ -z "${ENGINE_PID_FILE:-}" ]; then
  # Someone else's engine: only this run's project goes.
  if [ -d "$base/project" ]; then
    (cd "$base/project" && timeout 120 docker compose --profile tools down -v --remove-orphans) \
      >/dev/null 2>&1
  fi
  prefix=$(sed -n 's/^IMAGE_PREFIX=//p' "$base/project/.env" 2>/dev/null)
  if [ -n "$prefix" ]; then
    images=$(docker images -q --filter "reference=$prefix-*" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$images" ] && docker rmi -f $images >/dev/null 2>&1
  fi
else
  # The private engine: its containers are killed at once, then the daemon is stopped.
  containers=$(timeout 20 docker ps -aq 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$containers" ] && timeout 60 docker rm -f -v $containers >/dev/null 2>&1
  pid=$(cat "$ENGINE_PID_FILE" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  # A daemon killed hard leaves containerd and its shims, the containers' processes (whose root
  # is a layer under the run folder) and mounts behind.
  pkill -KILL -f -- "$base/exec" 2>/dev/null
  for proc in /proc/[0-9]*; do
    case $(readlink "$proc/root" 2>/dev/null) in
      "$base"/*) kill -KILL "${proc#/proc/}" 2>/dev/null ;;
    esac
  done
  grep -F " $base/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null
  done
fi
# The engine's layers are many small files: they are removed in the background, out of the
# run's time, under a name no later run looks at.
mv -- "$base" "$base.removing" || exit 0
setsid rm -rf -- "$base.removing" </dev/null >/dev/null 2>&1 &
