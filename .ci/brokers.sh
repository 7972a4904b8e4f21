#!/usr/bin/env bash
# Makes sure Redis (6379) and RabbitMQ (5672, guest/guest) run on 127.0.0.1: installs the Debian
# packages when missing and starts whatever is down. Idempotent.
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
APT_UPDATED=
apt_install() {
  [ -n "$APT_UPDATED" ] || { apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}
wait_port() { # port seconds
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done; return 1
}

if port_open 6379; then echo "brokers: redis already up"; else
  command -v redis-server >/dev/null || { echo "brokers: installing redis-server"; apt_install redis-server; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 \
    || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 6379 30 && echo "brokers: redis started" || { echo "brokers: redis did not start"; exit 1; }
fi

# the sentinel and TLS interop tests start their own redis-server (--sentinel, --tls-port) and make
# certificates with openssl
command -v redis-server >/dev/null || { echo "brokers: installing redis-server"; apt_install redis-server; }
command -v openssl >/dev/null || { echo "brokers: installing openssl"; apt_install openssl; }

if port_open 5672; then echo "brokers: rabbitmq already up"; else
  command -v rabbitmq-server >/dev/null || { echo "brokers: installing rabbitmq-server"; apt_install rabbitmq-server; }
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 120 && echo "brokers: rabbitmq started" || { echo "brokers: rabbitmq did not start"; exit 1; }
  # the port opens a little before the broker accepts logins
  sleep 3
fi
