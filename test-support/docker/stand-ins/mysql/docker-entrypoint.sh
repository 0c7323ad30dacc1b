#!/bin/sh
# The official mysql image's start-up, on MariaDB: on an empty data directory, install it, make
# the root password, the database and the application account from the environment, run
# /docker-entrypoint-initdb.d/*.sql, then serve on 0.0.0.0:3306 as the mysql user. Server
# options given as the command (`--innodb-buffer-pool-size=1G`) go to the server.
set -eu

case "${1:-}" in
  -*) set -- mariadbd "$@" ;;
esac
if [ "${1:-}" != mariadbd ] && [ "${1:-}" != mysqld ]; then
  exec "$@"
fi
shift

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

# A value inside a single-quoted SQL string.
quote() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }

if [ ! -d "$datadir/mysql" ]; then
  : "${MYSQL_ROOT_PASSWORD:?the stand-in needs MYSQL_ROOT_PASSWORD}"
  chown mysql:mysql "$datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --socket="$socket" --skip-networking &
  init_pid=$!
  until mariadb-admin --socket="$socket" --user=root ping >/dev/null 2>&1; do sleep 0.2; done
  root_password=$(quote "$MYSQL_ROOT_PASSWORD")
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_password';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root_password';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER '$(quote "$MYSQL_USER")'@'%' IDENTIFIED BY '$(quote "$MYSQL_PASSWORD")';"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$(quote "$MYSQL_USER")'@'%';"
      fi
    fi
  } | mariadb --socket="$socket" --user=root
  for file in /docker-entrypoint-initdb.d/*.sql; do
    [ -f "$file" ] || continue
    MYSQL_PWD=$MYSQL_ROOT_PASSWORD mariadb --socket="$socket" --user=root ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$file"
  done
  kill "$init_pid"
  wait "$init_pid"
fi

# As the official image's configuration: no reverse lookup of clients, whose addresses a
# container network may not resolve.
exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" \
  --bind-address=0.0.0.0 --port=3306 --skip-name-resolve "$@"
