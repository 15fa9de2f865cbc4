#!/usr/bin/env bash
# The sync at scale: a first load into an empty store and a no-change resync of the same roster,
# wall time, CPU and peak memory (max RSS) of each, for all-eligible rosters of growing size
# (bench/gen_roster.py) into SQLite, and into a private PostgreSQL. No LDAP (bench/ldap.sh).
#   bench/scale.sh                                   # SQLite 10k 100k 300k 1M, PostgreSQL 100k, 3 runs each
#   SIZES="10000 100000" PG_SIZES="" RUNS=1 bench/scale.sh   # a quick run
#   BIN=/path/to/orgid bench/scale.sh                # another build (default target/release/orgid)
# It does not build: `cargo build --release -p orgid` first (outside the benchmark lock). Each row
# is one run, with the load average at its start; the last row of a size is the median. With a
# binary that has `sync --timings`, each step's phases follow its row (time, peak RSS of each).
# Rosters are generated once and kept in $ROSTERS (default /tmp/orgid-rosters).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES-10000 100000 300000 1000000}
PG_SIZES=${PG_SIZES-100000}
RUNS=${RUNS:-3}
BIN=${BIN:-$PWD/target/release/orgid}
ROSTERS=${ROSTERS:-/tmp/orgid-rosters}
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build --release -p orgid)"; exit 1; }
WORK=$(mktemp -d /tmp/orgid-scale.XXXXXX)
PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

TIMINGS=""
case "$("$BIN" sync --help 2>&1)" in *--timings*) TIMINGS="--timings" ;; esac

roster() { # people → folder with companies.csv and roster.csv
  local dir="$ROSTERS/$1-$(sha1sum bench/gen_roster.py | cut -c1-8)"
  if [ ! -s "$dir/roster.csv" ]; then
    mkdir -p "$ROSTERS"
    python3 bench/gen_roster.py --people "$1" --out "$dir.tmp" >/dev/null
    rm -rf "$dir"; mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

config() { # store url, roster folder
  cat > "$WORK/orgid.toml" <<TOML
[store]
url = "$1"
[log]
level = "warn"
[eligibility]
unrated_requires_approval = false
[eligibility.min_grade]
hq = 0
tier1 = 0
tier2 = 0
tier3 = 0
tier4 = 0
unrated = 0
[safety]
max_close_share = 0.5
[limits]
max_file_mb = 1000
[workflow]
independent_roster = "apply"
[[sources]]
name = "bench"
kind = "roster"
companies = "$2/companies.csv"
roster = "$2/roster.csv"
TOML
}

# One sync; sets SECS, CPU (user+sys), MB (peak RSS), WRITES (changes + people updated), PHASES.
step() {
  local code=0
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" --config "$WORK/orgid.toml" sync $TIMINGS --format json \
    > "$WORK/out.json" 2>"$WORK/err" || code=$?
  if [ $code -ne 0 ]; then echo "sync failed ($code)"; head -c 2000 "$WORK/out.json"; tail -5 "$WORK/err"; exit 1; fi
  read -r SECS user sys kb < <(tail -n 1 "$WORK/time")
  CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  MB=$(awk -v k="$kb" 'BEGIN {printf "%.0f", k / 1024}')
  read -r STATUS WRITES PHASES < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d.get("counts") or {}
t = (d.get("timings") or {}).get("phases") or []
print(d["status"], sum(v for v in c.values() if isinstance(v, int)),
      " ".join("%s=%.2fs/%dMB" % (p["phase"], p["secs"], p["peak_rss_mb"]) for p in t) or "-")' "$WORK/out.json")
}

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

fmt_people() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

header() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "binary:  $BIN ($(date -r "$BIN" -u '+%F %T UTC'))"
  printf '%-10s %10s %4s | %9s %9s %8s | %9s %9s %8s %7s | %s\n' store people run "first load" cpu "peak RSS" \
    "no-change" cpu "peak RSS" writes "load average"
}

bench() { # store kind, people
  local kind=$1 people=$2 dir firsts=() first_mbs=() seconds=() second_mbs=()
  dir=$(roster "$people")
  for run in $(seq 1 "$RUNS"); do
    local load url
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    case $kind in
      sqlite) rm -f "$WORK"/orgid.db*; url="sqlite://$WORK/orgid.db" ;;
      postgres)
        local db="bench_${people}_$run"
        runuser -u postgres -- psql -q -h "$PG_DIR" -p "$PG_PORT" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
        url="postgres://postgres:pgpass@127.0.0.1:$PG_PORT/$db" ;;
    esac
    config "$url" "$dir"
    step; local s1=$SECS c1=$CPU m1=$MB p1=$PHASES
    step; local s2=$SECS c2=$CPU m2=$MB w2=$WRITES p2=$PHASES
    printf '%-10s %10s %4s | %7.2f s %7.2f s %5s MB | %7.2f s %7.2f s %5s MB %7s | %s\n' \
      "$kind" "$(fmt_people "$people")" "$run" "$s1" "$c1" "$m1" "$s2" "$c2" "$m2" "$w2" "$load"
    if [ -n "$TIMINGS" ]; then
      echo "           first load: $p1"
      echo "           no change:  $p2"
    fi
    firsts+=("$s1"); first_mbs+=("$m1"); seconds+=("$s2"); second_mbs+=("$m2")
  done
  if [ "$RUNS" -gt 1 ]; then
    printf '%-10s %10s %4s | %7.2f s %9s %5s MB | %7.2f s %9s %5s MB\n' "$kind" "$(fmt_people "$people")" median \
      "$(printf '%s\n' "${firsts[@]}" | median)" "" "$(printf '%s\n' "${first_mbs[@]}" | median)" \
      "$(printf '%s\n' "${seconds[@]}" | median)" "" "$(printf '%s\n' "${second_mbs[@]}" | median)"
  fi
  MEDIAN_FIRST=$(printf '%s\n' "${firsts[@]}" | median)
}

start_postgres() {
  local bin=/usr/lib/postgresql/15/bin
  PG_DIR=$(mktemp -d /tmp/orgid-pg.XXXXXX)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  chown postgres: "$PG_DIR"; echo pgpass > "$PG_DIR/pwfile"; chown postgres: "$PG_DIR/pwfile"
  runuser -u postgres -- $bin/initdb -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log"
  runuser -u postgres -- $bin/pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
}

header
declare -A FIRST
for n in $SIZES; do bench sqlite "$n"; FIRST[$n]=$MEDIAN_FIRST; done
# Linearity: each size's first load against the 100,000 one, per person.
if [ -n "${FIRST[100000]:-}" ]; then
  for n in $SIZES; do
    [ "$n" -gt 100000 ] || continue
    awk -v t="${FIRST[$n]}" -v b="${FIRST[100000]}" -v n="$n" \
      'BEGIN {printf "first load, %d people: %.2f× the 100,000 time for %.1f× the people (%.2f× linear)\n", n, t / b, n / 100000, (t / b) / (n / 100000)}'
  done
fi
if [ -n "$PG_SIZES" ]; then
  start_postgres
  echo "postgres: private PostgreSQL 15 on 127.0.0.1:$PG_PORT (fsync off)"
  for n in $PG_SIZES; do bench postgres "$n"; done
fi
