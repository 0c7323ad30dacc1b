#!/usr/bin/env bash
# Makes sure the local MariaDB and RabbitMQ that the tests talk to are running, starting
# either one if it is down, and that RabbitMQ's management API (port 15672, where the tests make
# their virtual hosts) is on, and that docker-compose is installed for the compose file checks of
# the unit tests (`docker-compose config -q` needs no engine). Safe to run when everything is
# already up.
set -euo pipefail

wait_for() {
  local what=$1 tries=$2
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $what did not come up" >&2
  return 1
}

if ! mariadb-admin --host=127.0.0.1 --user=root ping >/dev/null 2>&1; then
  echo "ensure-services: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for MariaDB 60 mariadb-admin --host=127.0.0.1 --user=root ping
fi

if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  echo "ensure-services: starting RabbitMQ"
  rabbitmq-server -detached
  wait_for RabbitMQ 120 rabbitmq-diagnostics -q ping
fi
wait_for "RabbitMQ startup" 120 rabbitmqctl -q await_startup

management_up() { curl -fsS -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview; }
if ! management_up; then
  echo "ensure-services: enabling RabbitMQ's management plugin"
  rabbitmq-plugins -q enable rabbitmq_management
  wait_for "RabbitMQ management API" 60 management_up
fi

install_docker_compose() {
  # Waits for another apt or dpkg run (a test run installing its own packages) to finish.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq docker-compose >/dev/null
}
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "ensure-services: installing docker-compose"
    install_docker_compose || { apt-get -o DPkg::Lock::Timeout=300 update -qq && install_docker_compose; }
  else
    # Only a warning: the services are up. With CI=true the compose check fails without it.
    echo "ensure-services: docker-compose is missing; as root: apt-get install -y docker-compose" >&2
  fi
fi

echo "ensure-services: MariaDB, RabbitMQ and its management API are up"
