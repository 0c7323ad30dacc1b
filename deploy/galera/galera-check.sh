#!/bin/sh
# HAProxy's health check of one Galera node (`external-check command`), run with HAProxy's four
# arguments: <proxy address> <proxy port> <server address> <server port>. Healthy (exit 0) only
# when the node is Synced in the primary component and ready for queries, and no node it lists
# as a peer is in a later view than its own: a node resumed after a freeze reports Synced from
# its old view for seconds before it learns that the others evicted it.
# It connects as `haproxy_check`, an account with no privileges and no password (SHOW STATUS
# needs none), which every node's cluster has (mysql-init is not where it is made: see
# docs/galera.md).
host=$3
port=$4

# The status of the node at $1:$2, given up after $3 seconds: a frozen node takes the TCP
# connection and then never greets.
status() {
  timeout "$3" mariadb --user=haproxy_check --host="$1" --port="$2" \
    --batch --skip-column-names --execute="SHOW GLOBAL STATUS WHERE Variable_name IN
      ('wsrep_local_state', 'wsrep_cluster_status', 'wsrep_ready', 'wsrep_cluster_conf_id',
       'wsrep_incoming_addresses')" 2>/dev/null
}
value() { printf '%s\n' "$1" | awk -v name="$2" '$1 == name { print $2 }'; }

own=$(status "$host" "$port" 1) || exit 1
[ "$(value "$own" wsrep_local_state)" = 4 ] || exit 1
[ "$(value "$own" wsrep_cluster_status)" = Primary ] || exit 1
[ "$(value "$own" wsrep_ready)" = ON ] || exit 1
view=$(value "$own" wsrep_cluster_conf_id)

# Peers are asked side by side, briefly: one that does not answer (frozen, or gone) says
# nothing either way, and must not hold this node's check.
peers=$(value "$own" wsrep_incoming_addresses | tr ',' ' ')
views=$(
  for peer in $peers; do
    [ "$peer" = "$host:$port" ] && continue
    (value "$(status "${peer%:*}" "${peer##*:}" 0.3)" wsrep_cluster_conf_id) &
  done
  wait
)
for peer_view in $views; do
  if [ "$peer_view" -gt "$view" ]; then exit 1; fi
done
exit 0
