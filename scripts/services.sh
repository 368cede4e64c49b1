#!/usr/bin/env bash
# Starts the services the store tests use (PostgreSQL, Redis, RabbitMQ on loopback) when
# they are not answering, and waits until they do. Idempotent; safe to run on a machine
# where they already run. Services that are not installed are reported, not fatal: the
# tests then fail by themselves when RUSA_TEST_SERVICES=required.
#
#   SERVICES_WAIT_SECONDS  how long to wait for each service (default 60)
set -uo pipefail

WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-60}"

# Whether something accepts TCP connections on 127.0.0.1:$1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits until $2 (a command) succeeds, at most WAIT_SECONDS; $1 names the service.
wait_for() {
  local name="$1"
  shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "services: $name did not answer within ${WAIT_SECONDS}s" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "services: $name is up"
}

status=0

if ! listening 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  else
    echo "services: PostgreSQL is not installed" >&2
  fi
fi
wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 || status=1

if ! listening 6379; then
  if command -v redis-server >/dev/null; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  else
    echo "services: Redis is not installed" >&2
  fi
fi
wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping || status=1

if ! listening 5672; then
  if command -v rabbitmq-server >/dev/null; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "services: RabbitMQ is not installed" >&2
  fi
fi
wait_for RabbitMQ listening 5672 || status=1

exit "$status"
