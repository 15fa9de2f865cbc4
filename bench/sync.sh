#!/usr/bin/env bash
# Benchmark of the sync core: a generated 100,000-person roster (bench/gen_roster.py), synced into
# an empty SQLite store. Prints wall time and peak memory (max RSS) of each step, and the machine.
#   bench/sync.sh                 # 100,000 people
#   PEOPLE=20000 bench/sync.sh    # smaller
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${PEOPLE:-100000}
cargo build --release -q -p orgid
BIN=$PWD/target/release/orgid
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m1" >/dev/null
python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m2" --change 0.01 >/dev/null
config() { # month folder
  cat > "$WORK/orgid.toml" <<TOML
[store]
url = "sqlite://$WORK/orgid.db"
[log]
level = "warn"
[[sources]]
name = "bench"
kind = "roster"
companies = "$1/companies.csv"
roster = "$1/roster.csv"
TOML
}
step() { # label, args...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --config "$WORK/orgid.toml" "$@" --format json > "$WORK/out.json" || {
    code=$?; [ $code -eq 4 ] || [ $code -eq 3 ] || { echo "$label failed ($code)"; cat "$WORK/out.json"; exit 1; }; }
  read -r secs kb < <(tail -n 1 "$WORK/time")  # GNU time puts "Command exited with …" first on exit != 0
  local counts
  counts=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.get("counts") or {}; print(d["status"], " ".join(f"{k}={v}" for k,v in c.items() if v))' "$WORK/out.json")
  printf '%-34s %7.2f s  %6.1f MB peak   %s\n' "$label" "$secs" "$(awk -v k="$kb" 'BEGIN {print k/1024}')" "$counts"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "roster:  $(($(wc -l < "$WORK/m1/roster.csv") - 1)) rows, $(($(wc -l < "$WORK/m1/companies.csv") - 1)) companies, $(du -h "$WORK/m1/roster.csv" | cut -f1)"
config "$WORK/m1"
step "dry-run, empty store" sync --dry-run
step "sync, empty store (first load)" sync
step "sync again, no change" sync
config "$WORK/m2"
step "dry-run, month 2 (1% changed)" sync --dry-run
step "sync, month 2 (1% changed)" sync
echo "store:   $(du -h "$WORK/orgid.db" | cut -f1) SQLite"
