# Part (a): the three-node docker-compose cluster of docker/, built from this tree. Sourced by run.sh, which sets
# repo, work, image and compose (the docker compose command). Each node N publishes 2432N, 2434N and 2408N.

compose_part() {
  local dir="$work/compose" project=pgraft-test
  mkdir -p "$dir"
  cp "$repo/docker/docker-compose.yml" "$dir/"
  "$repo/docker/make-secrets.sh" "$dir/secrets" >/dev/null
  export DOCKER_PGRAFT_IMAGE="$image" DOCKER_PGRAFT_SUBNET_PREFIX=172.28.6 DOCKER_PGRAFT_PUBLISH_ADDRESS=127.0.0.1
  dc() { (cd "$dir" && $compose -p "$project" "$@"); }
  container() { dc ps -q "$1"; }
  export PGPASSFILE="$dir/pgpass"
  (umask 077; for port in 24321 24322 24323 24341 24342 24343; do
    echo "127.0.0.1:$port:*:postgres:$(cat "$dir/secrets/superuser_password")"; done > "$PGPASSFILE")
  sql() { psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atc "$2" 2>&1; }

  compose_teardown() {
    dc down -v --remove-orphans >/dev/null 2>&1 || true
  }
  compose_diagnostics() {
    log "compose cluster state and the last log lines of each node:"
    dc ps || true
    for n in 1 2 3; do curl -s -m 2 "http://127.0.0.1:2408${n}/health"; echo; done
    dc logs --no-color --tail=60 2>&1 | cut -c1-400
  }

  compose_teardown   # what an interrupted earlier run may have left
  for port in 24321 24322 24323 24341 24342 24343 24081 24082 24083; do
    if ss -Hltn "sport = :$port" | grep -q .; then
      fail "compose: host port $port is free for the test cluster (something listens there: another compose cluster? docker-compose -p pgraft down)"
      return
    fi
  done

  check "compose: the image refuses to start without its secrets and names the fix (make-secrets.sh)" \
    refuses_with "make-secrets.sh" docker run --rm "$image"

  log "compose: starting node1..node3 (project $project)"
  if ! dc up -d >"$dir/up.log" 2>&1; then
    cat "$dir/up.log"
    fail "compose: docker compose up -d starts the three nodes"
    compose_teardown
    return
  fi
  pass "compose: docker compose up -d starts the three nodes"

  roles() { # prints "P R" counts and sets primary to the primary's number
    local p=0 r=0
    primary=""
    for n in 1 2 3; do
      [ "$(http_status "http://127.0.0.1:2408${n}/primary")" = 200 ] && { p=$((p + 1)); primary=$n; }
      [ "$(http_status "http://127.0.0.1:2408${n}/replica")" = 200 ] && r=$((r + 1))
    done
    echo "$p $r"
  }
  one_primary_two_replicas() { [ "$(roles)" = "1 2" ]; }
  if ! wait_until 180 one_primary_two_replicas; then
    fail "compose: within 180 s the API shows one primary and two replicas (now: $(roles))"
    compose_diagnostics; compose_teardown; return
  fi
  roles >/dev/null
  local first_primary=$primary
  pass "compose: one primary (node$first_primary) and two replicas by /primary and /replica after ${waited} s"

  all_healthy() {
    local n
    for n in 1 2 3; do [ "$(docker inspect -f '{{.State.Health.Status}}' "$(container node$n)")" = healthy ] || return 1; done
  }
  wait_until 60 all_healthy
  check "compose: docker's healthcheck (/health) reports all three containers healthy" all_healthy

  local out
  out=$(sql 24322 "create table packaging_rows(id int primary key, node text default inet_server_addr()); insert into packaging_rows(id) values (1); select count(*) from packaging_rows")
  check "compose: a row written through node2's read-write proxy port (24322) lands on the primary ($out)" test "$out" = 1

  local survivor=$(( first_primary % 3 + 1 ))
  log "compose: docker kill the primary's container (node$first_primary)"
  docker kill "$(container node$first_primary)" >/dev/null
  write_again() { [ "$(sql "2432${survivor}" "insert into packaging_rows(id) values (2) on conflict do nothing; select count(*) from packaging_rows")" = 2 ]; }
  if wait_until 20 write_again; then
    pass "compose: after docker kill of primary node$first_primary, a write through node$survivor's proxy succeeded within ${waited} s (bound 20 s)"
  else
    fail "compose: after docker kill of primary node$first_primary, a write through node$survivor's proxy succeeds within 20 s"
    compose_diagnostics; compose_teardown; return
  fi
  local other=$(( survivor % 3 + 1 ))
  [ "$other" = "$first_primary" ] && other=$(( other % 3 + 1 ))
  out=$(sql "2432${other}" "select string_agg(id::text, ',' order by id) from packaging_rows")
  check "compose: both rows are there, read through node$other's proxy ($out)" test "$out" = "1,2"
  roles >/dev/null
  check "compose: a surviving node is primary now (node$primary)" test -n "$primary" -a "$primary" != "$first_primary"

  log "compose: starting node$first_primary again"
  dc start "node$first_primary" >/dev/null 2>&1
  rejoined() { [ "$(http_status "http://127.0.0.1:2408${first_primary}/replica")" = 200 ]; }
  if wait_until 120 rejoined; then
    pass "compose: the killed node$first_primary came back and rejoined as a replica after ${waited} s"
  else
    fail "compose: the killed node$first_primary rejoins as a replica within 120 s"
    compose_diagnostics
  fi
  local_rows() {
    [ "$(docker exec "$(container node$first_primary)" sh -c 'PGPASSWORD=$(cat /run/pgraft/secrets/superuser_password) \
      psql -X -h 127.0.0.1 -p 5433 -U postgres -d postgres -Atc "select count(*) from packaging_rows"' 2>/dev/null)" = 2 ]
  }
  wait_until 30 local_rows
  check "compose: the rejoined node$first_primary's own PostgreSQL replays both rows" local_rows

  local leaks=0 value where
  for value in "$(cat "$dir/secrets/cluster_secret")" "$(cat "$dir/secrets/superuser_password")" "$(cat "$dir/secrets/replication_password")"; do
    for where in logs inspect image; do
      case "$where" in
        logs) dc logs --no-color 2>&1 | grep -qF "$value" && leaks=$((leaks + 1)) ;;
        inspect) docker inspect $(dc ps -q) | grep -qF "$value" && leaks=$((leaks + 1)) ;;
        image) { docker image inspect "$image"; docker history --no-trunc "$image"; } | grep -qF "$value" && leaks=$((leaks + 1)) ;;
      esac
    done
  done
  check "compose: no secret appears in the containers' logs, their docker inspect, or the image and its history" test "$leaks" -eq 0
  out=$(docker exec "$(container node$survivor)" stat -c '%a %U' /run/pgraft/secrets/cluster_secret /run/pgraft/secrets/superuser_password /run/pgraft/secrets/replication_password | sort -u)
  check "compose: inside a node the secrets are 0600 files of postgres ($out)" test "$out" = "600 postgres"
  out=$(docker exec "$(container node$survivor)" ps -o user= -C pgraft | sort -u)
  check "compose: pgraft runs as postgres, not root ($out)" test "$out" = postgres

  compose_teardown
  check "compose: docker compose down -v removed the containers, network and volumes" \
    test -z "$(label="label=com.docker.compose.project=$project"; docker ps -aq --filter "$label"; docker volume ls -q --filter "$label"; docker network ls -q --filter "$label")"
}
