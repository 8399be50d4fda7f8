#!/usr/bin/env bash
# Start PostgreSQL and RabbitMQ on loopback for a production-style AiiDA profile
# (`aiida-sei setup --postgres`), and create its database user and database.
#
# Run as root on Debian 12 (CI does, after a fresh boot): installs `postgresql` and
# `rabbitmq-server` if missing, configures RabbitMQ, starts both through the machine's service
# manager (systemd where it runs, the init scripts otherwise, as in containers) and creates the
# role and database. Idempotent: a second run changes nothing and takes about a second.
#
# Settings (environment):
#   SEI_DB_NAME      database to create (default sei)
#   SEI_DB_USER      role owning it, with CREATEDB so tests can make throwaway databases (default sei)
#   SEI_DB_PASSWORD  the role's password; set on every run. Unset: a random one is generated and
#                    printed, so pass your own to keep it stable (CI generates one per run).
set -euo pipefail

DB_NAME=${SEI_DB_NAME:-sei}
DB_USER=${SEI_DB_USER:-sei}
DB_PASSWORD=${SEI_DB_PASSWORD:-}
PACKAGES=(postgresql rabbitmq-server)
RABBITMQ_ETC=/etc/rabbitmq

log() { printf '[services] %s\n' "$*"; }
die() { log "$*"; exit 1; }

ensure_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Write a file only when its content differs; prints the path when it changed.
write_if_changed() {
  local path=$1 content=$2
  [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] && return
  printf '%s\n' "$content" > "$path"
  echo "$path"
}

# Loopback only; a fixed node name, since a container's hostname may not resolve; no consumer
# timeout: AiiDA holds a task for as long as its process runs (hours), and RabbitMQ >= 3.8.15
# otherwise closes the channel after 30 min and the process is lost.
configure_rabbitmq() {
  local changed
  changed=$(
    write_if_changed "$RABBITMQ_ETC/rabbitmq-env.conf" $'# Written by aiida-sei tools/services.sh\nNODENAME=rabbit@localhost\nNODE_IP_ADDRESS=127.0.0.1\nexport ERL_EPMD_ADDRESS=127.0.0.1\nSERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"'
    write_if_changed "$RABBITMQ_ETC/advanced.config" $'%% Written by aiida-sei tools/services.sh\n[{rabbit, [{consumer_timeout, undefined}]}].'
  )
  [ -z "$changed" ] && return
  log "configured RabbitMQ: $(echo $changed)"
  if rabbitmq_running; then service_do rabbitmq-server restart; fi
}

rabbitmq_running() { rabbitmqctl -q status >/dev/null 2>&1; }
postgres_running() { pg_isready -q -h localhost; }

# systemctl where systemd is PID 1, the Debian init scripts otherwise (containers, chroots).
service_do() {
  local name=$1 action=$2
  if [ -d /run/systemd/system ]; then systemctl "$action" "$name"; else service "$name" "$action" >/dev/null; fi
}

wait_for() {
  local what=$1 check=$2 tries=60
  until $check; do
    tries=$((tries - 1))
    [ $tries -gt 0 ] || die "$what did not come up"
    sleep 1
  done
}

start_services() {
  if ! postgres_running; then log 'starting PostgreSQL'; service_do postgresql start; fi
  wait_for PostgreSQL postgres_running
  if ! rabbitmq_running; then log 'starting RabbitMQ'; service_do rabbitmq-server start; fi
  wait_for RabbitMQ rabbitmq_running
  wait_for 'RabbitMQ on 127.0.0.1:5672' amqp_port_open
}

amqp_port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }

# Debian-slim has no en_US.UTF-8 (AiiDA's own `verdi presto --use-postgres` asks for it), so the
# database gets C.UTF-8 from template0.
create_database() {
  if [ -z "$DB_PASSWORD" ]; then
    DB_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    log "generated password for role $DB_USER: $DB_PASSWORD (pass SEI_DB_PASSWORD to choose it)"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != 1 ]; then
    log "creating role $DB_USER"
    psql_admin -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB"
  fi
  # through stdin: psql interpolates (and quotes) variables there, not in -c
  psql_admin -v password="$DB_PASSWORD" <<< "ALTER ROLE \"$DB_USER\" PASSWORD :'password'"
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
    log "creating database $DB_NAME"
    psql_admin -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
  fi
}

main() {
  [ "$(id -u)" = 0 ] || die 'run as root (it installs and starts system services)'
  command -v apt-get >/dev/null || die 'needs Debian (apt-get); start PostgreSQL and RabbitMQ yourself'
  ensure_packages
  configure_rabbitmq
  start_services
  create_database
  log "ready: PostgreSQL localhost:5432 database $DB_NAME (role $DB_USER), RabbitMQ 127.0.0.1:5672 (guest)"
}

main "$@"
