#!/usr/bin/env bash
# Makes sure Redis (6379) and RabbitMQ (5672, guest/guest) run on 127.0.0.1: installs the Debian
# packages when missing and starts whatever is down, as daemons that stay up. Idempotent, quick when
# both are up; one line per thing it finds or does.
#   bash .ci/brokers.sh                      both brokers, plus redis-server and openssl for the tests
#   bash .ci/brokers.sh --install PKG...     only installs each package whose command is missing
#                                            (the demo uses it before it starts its own redis-server)
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
APT_LOG="${TMPDIR:-/tmp}/celeriac-apt.log"
APT_UPDATED=
ensure_installed() { # package [command]: installs the package with apt-get when the command is missing
  local pkg=$1 cmd=${2:-$1}
  command -v "$cmd" >/dev/null && return 0
  if ! command -v apt-get >/dev/null; then
    echo "brokers: $cmd is not installed and there is no apt-get here: install $pkg yourself"; exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "brokers: $cmd is not installed; installing $pkg needs root: sudo apt-get install $pkg"; exit 1
  fi
  echo "brokers: installing $pkg with apt-get"
  [ -n "$APT_UPDATED" ] || { apt-get update -qq >>"$APT_LOG" 2>&1; APT_UPDATED=1; }
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >>"$APT_LOG" 2>&1 || ! command -v "$cmd" >/dev/null; then
    echo "brokers: apt-get install $pkg failed (its output is in $APT_LOG)"; exit 1
  fi
}
wait_port() { # port seconds
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done; return 1
}

if [ "${1:-}" = "--install" ]; then
  shift
  for pkg in "$@"; do ensure_installed "$pkg"; done
  exit 0
fi

if port_open 6379; then echo "brokers: redis on 127.0.0.1:6379 is up"; else
  echo "brokers: redis on 127.0.0.1:6379 is down; starting redis-server"
  ensure_installed redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 \
    || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1
  wait_port 6379 30 || { echo "brokers: redis-server did not start on 127.0.0.1:6379 (see /var/log/redis/ci.log)"; exit 1; }
fi

# the sentinel and TLS interop tests start their own redis-server (--sentinel, --tls-port) and make
# certificates with openssl
ensure_installed redis-server
ensure_installed openssl
# test/cli/service-examples.test.ts runs Debian's supervisord with examples/supervisor/celeriac.conf
ensure_installed supervisor supervisord

if port_open 5672; then echo "brokers: rabbitmq on 127.0.0.1:5672 is up"; else
  echo "brokers: rabbitmq on 127.0.0.1:5672 is down; starting rabbitmq-server (takes a few seconds)"
  ensure_installed rabbitmq-server
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 120 || { echo "brokers: rabbitmq-server did not start on 127.0.0.1:5672 in 120 s"; exit 1; }
  # the port opens a little before the broker accepts logins
  sleep 3
fi
