#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and Redis on free loopback ports, and exports TEST_PG_* and
# TEST_REDIS_NODES for the test suites. Used by .ci/run and usable by hand:
#   source .ci/services.sh && start_services
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_services() {
  SERVICES_DIR=$(mktemp -d /tmp/nexus-ci.XXXXXX)
  chmod 755 "$SERVICES_DIR"
  local pgbin
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PG_PORT=$(free_port)
  mkdir -p "$SERVICES_DIR/pg"
  chown postgres:postgres "$SERVICES_DIR/pg"
  su postgres -s /bin/sh -c "$pgbin/initdb -D $SERVICES_DIR/pg/data -U postgres --auth=trust -E UTF8 >/dev/null"
  su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $SERVICES_DIR/pg/data -l $SERVICES_DIR/pg/log -w -o '-h 127.0.0.1 -p $PG_PORT -k $SERVICES_DIR/pg -c fsync=off -c max_connections=300' start >/dev/null"
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log" --pidfile "$SERVICES_DIR/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export TEST_PG_HOST=127.0.0.1 TEST_PG_PORT=$PG_PORT TEST_PG_USER=postgres TEST_PG_PASSWORD=''
  export TEST_REDIS_NODES="redis://127.0.0.1:$REDIS_PORT"
  export SERVICES_DIR PG_BIN=$pgbin
  echo "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
}

stop_services() {
  [ -n "${SERVICES_DIR:-}" ] || return 0
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $SERVICES_DIR/pg/data -m immediate stop >/dev/null 2>&1" || true
  rm -rf "$SERVICES_DIR"
}
