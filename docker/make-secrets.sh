#!/usr/bin/env bash
# Writes the cluster's three secrets for docker-compose.yml into docker/secrets/ (mode 0600, random, 48 hex
# characters each), keeping any that exist, so rerunning it never changes a running cluster's passwords.
# Usage: docker/make-secrets.sh [FOLDER]      (default: the secrets/ folder beside this script)
set -euo pipefail
folder="${1:-$(dirname "$(readlink -f "$0")")/secrets}"
command -v openssl >/dev/null || { echo "error: openssl is needed to make random secrets; run: apt-get install openssl" >&2; exit 1; }
umask 077
mkdir -p "$folder"
chmod 700 "$folder"
for name in cluster_secret superuser_password replication_password; do
  file="$folder/$name"
  if [ -s "$file" ]; then
    chmod 600 "$file"
    echo "kept    $file"
  else
    openssl rand -hex 24 > "$file.tmp"
    mv "$file.tmp" "$file"
    echo "created $file (mode 0600)"
  fi
done
