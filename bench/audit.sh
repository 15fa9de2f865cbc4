#!/usr/bin/env bash
# Benchmark of the audit trail, on SQLite and on PostgreSQL (a private server with the default
# durability: fsync and synchronous_commit on). For each backend:
#  1. the sustained ingest rate of login records: through the login path (`IdpStore::record_*`:
#     credential row and records committed together, concurrent logins grouped; 16, 64 and 256
#     logins in flight), and as raw appends, one per transaction (1 and 8 writers) and 100 per
#     transaction;
#  2. a bulk load to EVENTS chained records (indexes dropped and rebuilt, COPY on PostgreSQL);
#  3. the ingest rates again, with EVENTS records stored (the target: at least 5,000 records/s);
#  4. the time to query one account's records (newest 100, and all of them) among them;
#  5. a full verification walk of the chain.
#   bench/audit.sh                      # 10,000,000 records
#   EVENTS=1000000 SECONDS_EACH=5 bench/audit.sh
#   BACKENDS=postgres bench/audit.sh    # one backend only (sqlite, postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
ACCOUNTS=${ACCOUNTS:-20000}
SECONDS_EACH=${SECONDS_EACH:-10}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
cargo build --release -q -p orgid-store --example audit_bench
BIN=$PWD/target/release/examples/audit_bench
WORK=$(mktemp -d /tmp/orgid-audit-bench.XXXXXX)
PG_PID=
cleanup() {
  if [ -n "$PG_PID" ]; then kill -INT "$PG_PID" 2>/dev/null || true; while kill -0 "$PG_PID" 2>/dev/null; do sleep 0.1; done; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); disk $(df -h "$WORK" | awk 'NR==2 {print $1}')"
echo "records: $EVENTS over $ACCOUNTS accounts; ingest measured for $SECONDS_EACH s each"

for backend in $BACKENDS; do
  case $backend in
    sqlite)
      "$BIN" "sqlite:$WORK/audit.db" --events "$EVENTS" --accounts "$ACCOUNTS" --seconds "$SECONDS_EACH"
      echo "SQLite file: $(du -sh "$WORK/audit.db" | cut -f1) (+ WAL); $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || true)"
      rm -f "$WORK"/audit.db*
      ;;
    postgres)
      mkdir -p "$WORK/pg"
      RUN=()
      if [ "$(id -u)" = 0 ]; then chmod 755 "$WORK"; chown postgres "$WORK/pg"; RUN=(runuser -u postgres --); fi
      "${RUN[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
      PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      # Defaults for durability; memory and WAL sized for the machine and the bulk load.
      "${RUN[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 \
        -c shared_buffers=2GB -c max_wal_size=4GB -c effective_cache_size=16GB > "$WORK/pg/server.log" 2>&1 &
      PG_PID=$!
      until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.1; done
      # The postmaster itself (runuser may stand between it and this shell).
      PG_PID=$(head -n 1 "$WORK/pg/data/postmaster.pid")
      "$BIN" "postgres://postgres@127.0.0.1:$PORT/postgres" --events "$EVENTS" --accounts "$ACCOUNTS" --seconds "$SECONDS_EACH"
      echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'): $("$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -Atc "SELECT pg_size_pretty(pg_total_relation_size('audit_log'))") (table and indexes); fsync on, synchronous_commit on"
      kill -INT "$PG_PID"; while kill -0 "$PG_PID" 2>/dev/null; do sleep 0.1; done; PG_PID=
      ;;
    *) echo "unknown backend $backend"; exit 1 ;;
  esac
done
