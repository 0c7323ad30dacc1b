#!/bin/sh
# The official rabbitmq image's start-up, on Debian's server: the default account from the
# environment, AMQP and the management API on every interface, the node named after the
# container's host name, run as the rabbitmq user.
set -eu
if [ "${1:-}" = rabbitmq-server ]; then
  {
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER"; fi
    if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS"; fi
  } > /etc/rabbitmq/rabbitmq.conf
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  export HOME=/var/lib/rabbitmq
  cd "$HOME"
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec "$@"
