# A throwaway PostgreSQL server for the tests. Sourced (not run) by .ci/run and scripts/run_tests:
#
#   source scripts/postgres_test_server.sh
#   sddb_pg_start || exit 1     # exports SDDB_TEST_POSTGRES_URI
#   trap sddb_pg_stop EXIT      # stops the server it started and removes its folder
#
# sddb_pg_start does nothing when SDDB_TEST_POSTGRES_URI is already set: that is how a developer
# points the tests at another server (and how .ci/run's server reaches scripts/run_tests).
# Otherwise it runs initdb from Debian's postgresql package into a new folder under /tmp and
# starts the server there with no TCP listener, only a Unix socket in that folder, so it
# collides with no other server and needs no free port. PostgreSQL refuses to run as root: as
# root, initdb and pg_ctl run as the `postgres` user (runuser). Durability settings are off
# (fsync, synchronous_commit, full_page_writes): the data lives only as long as the test run.
#
# Without the server binaries it prints why and returns 0 leaving the variable unset (the tests
# that need PostgreSQL then skip, saying so), except under CI=true, where it returns 1: CI must
# run them.

SDDB_PG_DIR=

_sddb_pg_log() { printf 'postgres_test_server: %s\n' "$*" >&2; }

_sddb_pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

sddb_pg_start() {
  if [[ -n ${SDDB_TEST_POSTGRES_URI:-} ]]; then
    _sddb_pg_log "using SDDB_TEST_POSTGRES_URI from the environment"
    return 0
  fi
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -z $bindir || ! -x $bindir/initdb ]]; then
    if [[ ${CI:-} == true ]]; then
      _sddb_pg_log "error: no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb); run scripts/setup"
      return 1
    fi
    _sddb_pg_log "no PostgreSQL server installed (scripts/setup installs it): tests that need it skip"
    return 0
  fi
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    _sddb_pg_log "error: running as root and there is no 'postgres' user to run the server as"
    [[ ${CI:-} == true ]] && return 1
    return 0
  fi
  SDDB_PG_DIR=$(mktemp -d /tmp/sddb-pg.XXXXXX) || return 1
  chmod 755 "$SDDB_PG_DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$SDDB_PG_DIR"
  if ! _sddb_pg_as_owner "$bindir/initdb" -D "$SDDB_PG_DIR/data" -U postgres --auth=trust \
      -E UTF8 --locale=C >"$SDDB_PG_DIR/initdb.log" 2>&1; then
    _sddb_pg_log "error: initdb failed:"
    cat "$SDDB_PG_DIR/initdb.log" >&2
    sddb_pg_stop
    return 1
  fi
  local opts="-k $SDDB_PG_DIR -c listen_addresses= -p 5432 -c max_connections=300"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if ! _sddb_pg_as_owner "$bindir/pg_ctl" -D "$SDDB_PG_DIR/data" -l "$SDDB_PG_DIR/server.log" \
      -o "$opts" -w -t 60 start >/dev/null; then
    _sddb_pg_log "error: the server did not start:"
    cat "$SDDB_PG_DIR/server.log" >&2
    sddb_pg_stop
    return 1
  fi
  export SDDB_TEST_POSTGRES_URI="postgresql://postgres@/postgres?host=$SDDB_PG_DIR&port=5432"
  export SDDB_PG_BINDIR=$bindir
  _sddb_pg_log "started $("$bindir/postgres" --version) at $SDDB_TEST_POSTGRES_URI"
}

# Stops the server that sddb_pg_start started in this shell (none when the URI came from the
# environment) and removes its folder. Safe to call more than once.
sddb_pg_stop() {
  [[ -n $SDDB_PG_DIR ]] || return 0
  if [[ -f $SDDB_PG_DIR/data/postmaster.pid ]]; then
    local pid
    pid=$(head -n 1 "$SDDB_PG_DIR/data/postmaster.pid" 2>/dev/null || true)
    _sddb_pg_as_owner "$SDDB_PG_BINDIR/pg_ctl" -D "$SDDB_PG_DIR/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
    # pg_ctl may fail (e.g. its binaries gone): never leave the server running behind the
    # removed folder.
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$SDDB_PG_DIR"
  SDDB_PG_DIR=
  unset SDDB_TEST_POSTGRES_URI
}
