# Part (b): deploy/install.sh and pgraft.service under real systemd: three containers with systemd as PID 1 on one
# docker network, one node each. Sourced by run.sh, which sets repo, work, binary and systemd_image.

systemd_part() {
  local network=pgraft-sd-test prefix=172.28.7 dist="$work/dist"
  local peers="node1=$prefix.11,node2=$prefix.12,node3=$prefix.13"
  mkdir -p "$dist"
  cp "$repo/deploy/install.sh" "$repo/deploy/pgraft.service" "$repo/deploy/pgraft.json.template" "$dist/"
  cp "$binary" "$dist/pgraft"

  name() { echo "pgraft-sd-node$1"; }
  on() { local n="$1"; shift; docker exec "$(name "$n")" "$@"; }
  api() { on "$1" curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:8008/$2" 2>/dev/null || true; }
  install_node() { # N [extra arguments]
    local n="$1"; shift
    on "$n" /opt/pgraft-dist/install.sh --node-id "node$n" --address "$prefix.1$n" --peers "$peers" "$@"
  }
  systemd_teardown() {
    for n in 1 2 3; do docker rm -f "$(name "$n")" >/dev/null 2>&1 || true; done
    docker network rm "$network" >/dev/null 2>&1 || true
  }
  systemd_diagnostics() {
    for n in 1 2 3; do
      log "node$n: systemctl status pgraft and the journal's last lines"
      on "$n" systemctl status pgraft --no-pager 2>&1 | head -12
      on "$n" journalctl -u pgraft --no-pager -n 40 2>&1 | cut -c1-300
    done
  }

  systemd_teardown
  docker network create --subnet "$prefix.0/24" "$network" >/dev/null
  for n in 1 2 3; do
    # systemd as PID 1 without --privileged: SYS_ADMIN, its own /run and /run/lock, the cgroup tree read-only.
    docker run -d --name "$(name "$n")" --hostname "node$n" --network "$network" --ip "$prefix.1$n" \
      --cap-add SYS_ADMIN --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
      --stop-signal SIGRTMIN+3 -v "$dist:/opt/pgraft-dist:ro" "$systemd_image" >/dev/null
  done
  booted() { local s; s=$(on "$1" systemctl is-system-running 2>/dev/null); [ "$s" = running ] || [ "$s" = degraded ]; }
  for n in 1 2 3; do
    if ! wait_until 60 booted "$n"; then
      fail "systemd: container node$n boots systemd as PID 1 (state: $(on "$n" systemctl is-system-running 2>&1))"
      systemd_teardown; return
    fi
  done
  pass "systemd: three containers run systemd as PID 1"

  # Bad arguments: each refused, naming what is wrong.
  check "systemd: install.sh without arguments is refused: --node-id is missing" refuses_with "--node-id is missing" on 3 /opt/pgraft-dist/install.sh
  check "systemd: install.sh refuses a node id with capitals" refuses_with "is not allowed" \
    on 3 /opt/pgraft-dist/install.sh --node-id Node3 --address "$prefix.13" --peers "$peers"
  check "systemd: install.sh refuses --peers without this node" refuses_with "does not list this node" \
    on 3 /opt/pgraft-dist/install.sh --node-id node3 --address "$prefix.13" --peers "node1=$prefix.11,node2=$prefix.12"
  check "systemd: install.sh refuses a --peers entry that is not ID=HOST" refuses_with "is not ID=HOST" \
    on 3 /opt/pgraft-dist/install.sh --node-id node3 --address "$prefix.13" --peers "node1=$prefix.11,node3"
  check "systemd: install.sh refuses an --address that --peers contradicts" refuses_with "must agree" \
    on 3 /opt/pgraft-dist/install.sh --node-id node3 --address "$prefix.99" --peers "$peers"
  check "systemd: install.sh without secrets says to --generate-secrets or --secrets-from" refuses_with "--generate-secrets" install_node 3
  check "systemd: install.sh refuses a --secrets-from folder without the secrets" refuses_with "has no (or an empty) 'cluster_secret'" \
    install_node 3 --secrets-from /tmp
  check "systemd: the refused installs left no unit behind" test "$(on 3 sh -c 'ls /etc/systemd/system/pgraft.service 2>/dev/null | wc -l')" = 0

  log "systemd: installing node1 (--generate-secrets), then node2 and node3 with node1's secrets"
  local out
  if ! out=$(install_node 1 --generate-secrets 2>&1); then
    printf '%s\n' "$out"; fail "systemd: install.sh installs and starts node1"; systemd_diagnostics; systemd_teardown; return
  fi
  pass "systemd: install.sh installs and starts node1"
  local secrets="$work/node1-secrets"
  (umask 077; mkdir -p "$secrets")
  docker cp "$(name 1):/etc/pgraft/secrets/." "$secrets/"
  for n in 2 3; do
    docker cp "$secrets/." "$(name "$n"):/root/pgraft-secrets"
    if ! out=$(install_node "$n" --secrets-from /root/pgraft-secrets 2>&1); then
      printf '%s\n' "$out"; fail "systemd: install.sh installs and starts node$n (--secrets-from)"; systemd_diagnostics; systemd_teardown; return
    fi
    on "$n" rm -rf /root/pgraft-secrets
  done
  pass "systemd: install.sh installs and starts node2 and node3 with --secrets-from"

  local all_active=true
  for n in 1 2 3; do [ "$(on "$n" systemctl is-active pgraft)" = active ] || all_active=false; done
  check "systemd: systemctl is-active pgraft says active on all three (Type=notify: READY=1 arrived)" $all_active
  out=$(on 2 runuser -u postgres -- pgraft check-config --config /etc/pgraft/pgraft.json 2>&1 | grep peers)
  check "systemd: the generated pgraft.json names all three peers (${out#"${out%%peers*}"})" \
    grep -qF "node1@$prefix.11:7432, node2@$prefix.12:7432, node3@$prefix.13:7432" <<< "$out"
  out=$(on 2 stat -c '%a %U:%G' /etc/pgraft/pgraft.json)
  check "systemd: pgraft.json is root:postgres 0640 ($out)" test "$out" = "640 root:postgres"
  out=$(on 1 stat -c '%a %U' /etc/pgraft/secrets/cluster_secret /etc/pgraft/secrets/superuser_password /etc/pgraft/secrets/replication_password | sort -u)
  check "systemd: the secrets are 0600 files owned by postgres ($out)" test "$out" = "600 postgres"

  primary=""
  one_primary() {
    local p=0 r=0 n
    primary=""
    for n in 1 2 3; do
      [ "$(api "$n" primary)" = 200 ] && { p=$((p + 1)); primary=$n; }
      [ "$(api "$n" replica)" = 200 ] && r=$((r + 1))
    done
    [ "$p" = 1 ] && [ "$r" = 2 ]
  }
  if ! wait_until 180 one_primary; then
    fail "systemd: within 180 s one node is primary and two are replicas"; systemd_diagnostics; systemd_teardown; return
  fi
  local first=$primary
  pass "systemd: one primary (node$first) and two replicas after ${waited} s"
  local healthy=true
  for n in 1 2 3; do [ "$(api "$n" health)" = 200 ] || healthy=false; done
  check "systemd: /health answers 200 on all three" $healthy
  # The status line follows the node within about a second of a change.
  role_line() { out=$(on "$first" systemctl show -p StatusText --value pgraft); grep -q "^primary; cluster primary node$first" <<< "$out"; }
  wait_until 10 role_line || true
  check "systemd: systemctl status shows pgraft's role line ($out)" grep -q "^primary; cluster primary node$first" <<< "$out"

  local main_before
  main_before=$(on 1 systemctl show -p MainPID --value pgraft)
  out=$(install_node 1 --generate-secrets 2>&1) || true
  check "systemd: rerunning install.sh with the same arguments changes nothing and leaves pgraft running" \
    test "$(grep -c 'nothing changed' <<< "$out")" = 1 -a "$(on 1 systemctl show -p MainPID --value pgraft)" = "$main_before"

  # The watchdog: a stopped pgraft sends no WATCHDOG=1; systemd kills the control group and restarts the node.
  local victim=$first
  local pid
  pid=$(on "$victim" systemctl show -p MainPID --value pgraft)
  log "systemd: SIGSTOP to pgraft (pid $pid) on the primary node$victim"
  on "$victim" kill -STOP "$pid"
  other_primary() { one_primary >/dev/null; [ -n "$primary" ] && [ "$primary" != "$victim" ]; }
  if wait_until 30 other_primary; then
    pass "systemd: with node$victim's pgraft stopped, node$primary took over as primary after ${waited} s"
  else
    fail "systemd: with node$victim's pgraft stopped, another node becomes primary within 30 s"
  fi
  restarted() { [ "$(on "$victim" systemctl show -p NRestarts --value pgraft)" -ge 1 ] && [ "$(on "$victim" systemctl is-active pgraft)" = active ]; }
  if wait_until 40 restarted; then
    pass "systemd: the watchdog killed the stopped pgraft and systemd restarted it (NRestarts=$(on "$victim" systemctl show -p NRestarts --value pgraft)) after ${waited} s"
  else
    fail "systemd: the watchdog kills the stopped pgraft and systemd restarts it within 40 s"
    systemd_diagnostics
  fi
  check "systemd: the journal says the unit failed with result 'watchdog'" \
    grep -q "Failed with result 'watchdog'" <<< "$(on "$victim" journalctl -u pgraft --no-pager)"
  check "systemd: the stopped process is gone (pid $pid)" test -z "$(on "$victim" ps -o pid= -p "$pid")"
  rejoined() { [ "$(api "$victim" replica)" = 200 ]; }
  if wait_until 120 rejoined; then
    pass "systemd: the restarted node$victim rejoined as a replica after ${waited} s"
  else
    fail "systemd: the restarted node$victim rejoins as a replica within 120 s"
    systemd_diagnostics
  fi
  write_through_victim() {
    [ "$(on "$victim" sh -c 'PGPASSWORD=$(cat /etc/pgraft/secrets/superuser_password) psql -X -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc \
      "create table if not exists sd_rows(id int); insert into sd_rows values (1); select pg_is_in_recovery()"' 2>/dev/null | tail -1)" = f ]
  }
  wait_until 20 write_through_victim
  check "systemd: a write through the restarted node's proxy port reaches the new primary" write_through_victim
  check "systemd: no notification from PostgreSQL reached systemd (pgraft keeps NOTIFY_SOCKET to itself)" \
    test "$(on "$victim" journalctl -u pgraft --no-pager | grep -c 'reception only permitted for main PID')" = 0

  local leaks=0 value
  for value in $(cat "$secrets"/*); do
    for n in 1 2 3; do
      { on "$n" journalctl --no-pager; on "$n" systemctl status pgraft --no-pager; } 2>&1 | grep -qF "$value" && leaks=$((leaks + 1))
    done
  done
  check "systemd: no secret appears in any journal or systemctl status" test "$leaks" -eq 0

  # systemctl stop with KillMode=control-group: PostgreSQL stops with pgraft.
  local node=$victim
  check "systemd: the unit uses KillMode=control-group" test "$(on "$node" systemctl show -p KillMode --value pgraft)" = control-group
  in_unit_group() {
    local postmaster
    postmaster=$(on "$node" pgrep -o -u postgres -x postgres) && [ -n "$postmaster" ] \
      && on "$node" grep -q 'pgraft.service' "/proc/$postmaster/cgroup"
  }
  wait_until 20 in_unit_group
  check "systemd: before the stop, the postmaster runs in pgraft.service's control group" in_unit_group
  on "$node" systemctl stop pgraft
  check "systemd: systemctl stop pgraft leaves no postgres or pgraft process on node$node" \
    test -z "$(on "$node" pgrep -u postgres -a)"
  check "systemd: systemctl is-active says inactive after the stop" test "$(on "$node" systemctl is-active pgraft)" = inactive

  systemd_teardown
  rm -rf "$secrets"
}
