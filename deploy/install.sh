#!/usr/bin/env bash
# Installs one PgRaft node on a systemd machine (Debian 12 or alike): the pgraft binary, /etc/pgraft/pgraft.json
# (from pgraft.json.template), the cluster's secrets (0600, owned by postgres), the data folder and the
# pgraft.service unit, enabled and started. Keep install.sh, pgraft.service, pgraft.json.template (and pgraft) together.
# Run it on every node with the same --peers list; rerunning it with the same arguments changes nothing.
#
# Usage (as root):
#   deploy/install.sh --node-id node1 --address 10.0.0.1 --peers node1=10.0.0.1,node2=10.0.0.2,node3=10.0.0.3 \
#                     (--generate-secrets | --secrets-from DIR) [options]
# Options:
#   --node-id ID          this node's name (lowercase letters, digits, '-', '_'); must be one of --peers
#   --address HOST        the address the other nodes and clients dial for this node; prefer an IP address:
#                         pg_hba.conf admits members by it, and a host name there must match reverse DNS
#   --peers LIST          every voter of the cluster as ID=HOST[:RAFTPORT], comma-separated, this node included
#   --generate-secrets    first node only: make random secrets in /etc/pgraft/secrets; copy that folder to the others
#   --secrets-from DIR    a folder with cluster_secret, superuser_password, replication_password (from the first node)
#   --binary PATH         the pgraft file to install (default: pgraft beside this script)
#   --data-dir DIR        where Raft and PostgreSQL keep their data (default /var/lib/pgraft)
#   --no-start            install and enable, but do not start the service now
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

here="$(dirname "$(readlink -f "$0")")"
node_id="" address="" peers="" secrets_from="" generate=false binary="" data_dir="/var/lib/pgraft" start=true
raft_port=7432 api_port=8008 postgres_port=5433 rw_port=5432 ro_port=5434
etc=/etc/pgraft
secret_names=(cluster_secret superuser_password replication_password)

while [ $# -gt 0 ]; do
  case "$1" in
    --node-id|--address|--peers|--secrets-from|--binary|--data-dir)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || die "$1 needs a value (see --help)"
      case "$1" in
        --node-id) node_id="$2" ;; --address) address="$2" ;; --peers) peers="$2" ;;
        --secrets-from) secrets_from="$2" ;; --binary) binary="$2" ;; --data-dir) data_dir="$2" ;;
      esac
      shift 2 ;;
    --generate-secrets) generate=true; shift ;;
    --no-start) start=false; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# ---- arguments ------------------------------------------------------------------------------------------------------
[ -n "$node_id" ] || die "--node-id is missing: name this node, e.g. --node-id node1"
[[ "$node_id" =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] || die "--node-id '$node_id' is not allowed: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
[ -n "$address" ] || die "--address is missing: give the address other nodes dial for this node, e.g. --address 10.0.0.1"
[[ "$address" =~ ^[A-Za-z0-9.-]+$ ]] || die "--address '$address' is not a host name or IPv4 address (no port, no spaces)"
[ -n "$peers" ] || die "--peers is missing: list every voter as ID=HOST, e.g. --peers node1=10.0.0.1,node2=10.0.0.2,node3=10.0.0.3"
[[ "$data_dir" = /* ]] || die "--data-dir '$data_dir' is relative: give an absolute path such as /var/lib/pgraft"
if $generate && [ -n "$secrets_from" ]; then die "--generate-secrets and --secrets-from exclude each other: generate on the first node, copy to the others"; fi

peers_json="" self_listed=false declare_ids=" "
IFS=',' read -r -a peer_items <<< "$peers"
for item in "${peer_items[@]}"; do
  [[ "$item" =~ ^([a-z0-9][a-z0-9_-]{0,62})=([A-Za-z0-9.-]+)(:([0-9]{1,5}))?$ ]] \
    || die "--peers entry '$item' is not ID=HOST or ID=HOST:PORT (e.g. node2=10.0.0.2)"
  id="${BASH_REMATCH[1]}" host="${BASH_REMATCH[2]}" port="${BASH_REMATCH[4]:-$raft_port}"
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--peers entry '$item' has port $port, outside 1-65535"
  case "$declare_ids" in *" $id "*) die "--peers names '$id' twice" ;; esac
  declare_ids+="$id "
  if [ "$id" = "$node_id" ]; then
    [ "$host" = "$address" ] || die "--peers gives $id the address '$host' but --address is '$address': they must agree"
    [ "$port" = "$raft_port" ] || die "--peers gives this node Raft port $port; this installer listens on $raft_port: drop the port for $id"
    self_listed=true
  fi
  peers_json+="${peers_json:+,
    }{ \"Id\": \"$id\", \"Raft\": \"$host:$port\" }"
done
$self_listed || die "--peers does not list this node ('$node_id'): every voter, this one included, must be in the list"

[ "$(id -u)" -eq 0 ] || die "run install.sh as root (it writes /etc/pgraft, /usr/local/bin and a systemd unit): sudo $0 ..."
command -v systemctl >/dev/null || die "systemctl not found: install.sh sets up a systemd service; on other init systems run 'pgraft run --config' yourself"

binary="${binary:-$here/pgraft}"
[ -f "$binary" ] || die "the pgraft binary '$binary' does not exist: publish it (deploy/publish-binary.sh DIR) and pass --binary DIR/pgraft"
[ -x "$binary" ] || die "the pgraft binary '$binary' is not executable: chmod +x it"
[ -r "$here/pgraft.json.template" ] && [ -r "$here/pgraft.service" ] \
  || die "pgraft.json.template and pgraft.service must be beside install.sh (in $here): copy the whole deploy/ folder"

if [ -z "$secrets_from" ] && ! $generate; then
  for name in "${secret_names[@]}"; do
    [ -s "$etc/secrets/$name" ] || die "the secret $etc/secrets/$name is missing. On the first node pass --generate-secrets; \
on the others copy that node's $etc/secrets folder here (scp -p, keep it 0600) and pass --secrets-from DIR"
  done
fi
if [ -n "$secrets_from" ]; then
  for name in "${secret_names[@]}"; do
    [ -s "$secrets_from/$name" ] || die "--secrets-from '$secrets_from' has no (or an empty) '$name': copy all of $etc/secrets from the first node"
  done
fi

# ---- PostgreSQL and the postgres user -----------------------------------------------------------------------------
changed=()
if ! ls /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1; then
  command -v apt-get >/dev/null || die "PostgreSQL 15 is not installed (no /usr/lib/postgresql/15/bin/postgres): install it, then run this again"
  log "installing PostgreSQL 15 (without Debian's own 'main' cluster: pgraft runs initdb, and its proxy needs port 5432)"
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/pgraft.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
  changed+=("PostgreSQL 15 installed")
fi
if ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
  changed+=("user postgres created")
fi

service_active=false
systemctl is-active --quiet pgraft 2>/dev/null && service_active=true
if ! $service_active && command -v ss >/dev/null; then
  for port in $rw_port $ro_port $postgres_port $raft_port $api_port; do
    if ss -Hltn "sport = :$port" | grep -q .; then
      hint=""
      command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p && $4 == "online"' | grep -q . \
        && hint=" It is Debian's own PostgreSQL cluster: stop and disable it (systemctl disable --now postgresql), or drop it (pg_dropcluster --stop VERSION NAME)."
      die "port $port, which pgraft needs, is already in use by another program (ss -ltnp 'sport = :$port').$hint"
    fi
  done
fi

# ---- files ----------------------------------------------------------------------------------------------------------
# install_file SOURCE DEST MODE OWNER: copies only when the content, mode or owner differs; records what changed.
install_file() {
  local source="$1" dest="$2" mode="$3" owner="$4"
  if [ -f "$dest" ] && cmp -s "$source" "$dest" && [ "$(stat -c '%a %U:%G' "$dest")" = "${mode#0} $owner" ]; then
    return 0
  fi
  install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$source" "$dest.new"
  mv -f "$dest.new" "$dest"
  changed+=("$dest")
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

install_file "$binary" /usr/local/bin/pgraft 0755 root:root

install -d -m 0750 -o root -g postgres "$etc"
install -d -m 0700 -o postgres -g postgres "$etc/secrets"
for name in "${secret_names[@]}"; do
  if [ -n "$secrets_from" ]; then
    install_file "$secrets_from/$name" "$etc/secrets/$name" 0600 postgres:postgres
  elif $generate && [ ! -s "$etc/secrets/$name" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/$name"; echo >> "$work/$name")
    install_file "$work/$name" "$etc/secrets/$name" 0600 postgres:postgres
  else
    chown postgres:postgres "$etc/secrets/$name"
    chmod 0600 "$etc/secrets/$name"
  fi
done

# /etc/pgraft/pgraft.json from the template beside this script (no secrets in it: only the secret files' paths).
config=$(cat "$here/pgraft.json.template")
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: an '&' in a value stays an '&'
for pair in "NODE_ID=$node_id" "DATA_DIR=$data_dir" "SECRETS=$etc/secrets" "ADDRESS=$address" "RAFT_PORT=$raft_port" \
  "API_PORT=$api_port" "POSTGRES_PORT=$postgres_port" "RW_PORT=$rw_port" "RO_PORT=$ro_port" "PEERS=$peers_json"; do
  config="${config//@${pair%%=*}@/${pair#*=}}"
done
printf '%s\n' "$config" > "$work/pgraft.json"
[ -f "$etc/pgraft.json" ] && ! cmp -s "$work/pgraft.json" "$etc/pgraft.json" && cp -p "$etc/pgraft.json" "$etc/pgraft.json.previous"
install_file "$work/pgraft.json" "$etc/pgraft.json" 0640 root:postgres

install -d -m 0700 -o postgres -g postgres "$data_dir"
install_file "$here/pgraft.service" /etc/systemd/system/pgraft.service 0644 root:root
dropin=/etc/systemd/system/pgraft.service.d/data-dir.conf
if [ "$data_dir" != /var/lib/pgraft ]; then
  mkdir -p "$(dirname "$dropin")"
  printf '[Service]\nReadWritePaths=%s\n' "$data_dir" > "$work/data-dir.conf"
  install_file "$work/data-dir.conf" "$dropin" 0644 root:root
elif [ -e "$dropin" ]; then
  rm -f "$dropin"
  changed+=("$dropin removed")
fi

# The configuration as the service will read it: as postgres, so unreadable secrets show up now, not at start.
if ! check=$(runuser -u postgres -- /usr/local/bin/pgraft check-config --config "$etc/pgraft.json" 2>&1); then
  printf '%s\n' "$check" >&2
  die "pgraft check-config refused the configuration (above); nothing was started"
fi

# ---- the service -----------------------------------------------------------------------------------------------------
systemctl daemon-reload
systemctl enable --quiet pgraft
if $start; then
  if $service_active && [ ${#changed[@]} -gt 0 ]; then
    log "pgraft is running; restart it to use what changed (a primary hands over first): systemctl restart pgraft"
  elif ! $service_active; then
    log "starting pgraft"
    systemctl start pgraft || { journalctl -u pgraft -n 30 --no-pager >&2 || true; die "pgraft did not start (its log is above)"; }
  fi
fi

if [ ${#changed[@]} -eq 0 ]; then
  log "node $node_id: already installed, nothing changed"
else
  log "node $node_id installed; changed: ${changed[*]}"
fi
cat <<TXT
  status:   systemctl status pgraft      logs: journalctl -u pgraft -f
  health:   curl -i http://$address:$api_port/health   (/primary, /replica, /cluster)
  clients:  psql -h $address -p $rw_port -U postgres   (read-only: -p $ro_port); password in $etc/secrets/superuser_password
TXT
