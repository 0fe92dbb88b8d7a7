#!/bin/sh
# pgraft's container entry point. Started as root, it copies the three secrets from /run/secrets (docker secrets,
# or any bind-mounted folder named by PGRAFT_SECRETS_DIR) into a folder only the postgres user can read, makes sure
# the data volume belongs to postgres, then runs pgraft as postgres (PostgreSQL refuses to run as root).
# Started as postgres already (docker run --user postgres), it reads the secrets where they are.
# Node settings come from PGRAFT_* variables (see docker-compose.yml) and/or a JSON file given with --config.
set -eu

secrets_in="${PGRAFT_SECRETS_DIR:-/run/secrets}"
# pgraft reads every PGRAFT_* variable as a setting: this one is the entry point's own.
unset PGRAFT_SECRETS_DIR
data_dir="${PGRAFT_DATADIR:-/var/lib/pgraft}"
names="cluster_secret superuser_password replication_password"

die() { echo "pgraft-entrypoint: error: $*" >&2; exit 78; }

for name in $names; do
  [ -e "$secrets_in/$name" ] || die "the secret '$secrets_in/$name' is missing. With docker compose, run docker/make-secrets.sh \
(it writes docker/secrets/$name, mode 0600); with docker run, mount a folder holding $names at $secrets_in."
  [ -s "$secrets_in/$name" ] || die "the secret '$secrets_in/$name' is empty; write a random value into it (openssl rand -hex 24)"
done

if [ "$(id -u)" -eq 0 ]; then
  secrets="/run/pgraft/secrets"
  install -d -m 0700 -o postgres -g postgres /run/pgraft "$secrets"
  for name in $names; do
    install -m 0600 -o postgres -g postgres "$secrets_in/$name" "$secrets/$name"
  done
  install -d -m 0700 -o postgres -g postgres "$data_dir"
  [ "$(stat -c %U "$data_dir")" = postgres ] || chown postgres:postgres "$data_dir"
  run_as="setpriv --reuid=postgres --regid=postgres --init-groups --inh-caps=-all --bounding-set=-all --no-new-privs --"
else
  secrets="$secrets_in"
  for name in $names; do
    [ -r "$secrets/$name" ] || die "the secret '$secrets/$name' is not readable by $(id -un); make it readable by this user only (chmod 600, chown)"
  done
  run_as=""
fi

export PGRAFT_DATADIR="$data_dir"
export PGRAFT_CLUSTERSECRETFILE="$secrets/cluster_secret"
export PGRAFT_POSTGRES__SUPERUSERPASSWORDFILE="$secrets/superuser_password"
export PGRAFT_POSTGRES__REPLICATIONPASSWORDFILE="$secrets/replication_password"
export HOME=/var/lib/postgresql

# "pgraft run" when no command is given; any other pgraft command (check-config, list, ...) runs as given.
[ $# -gt 0 ] || set -- run
exec $run_as /usr/local/bin/pgraft "$@"
