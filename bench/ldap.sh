#!/usr/bin/env bash
# Benchmark of LDAP provisioning:
#  1. RUNS times (default 3): `orgid sync` of a generated roster (everyone eligible) into an empty
#     store and an empty slapd (reading, planning, the store and every LDAP write), then the same
#     entries (dumped from the first run's slapd) as LDIF through `ldapadd` into another empty
#     slapd of the same configuration. Each run prints both wall times, the CPU time of orgid,
#     ldapadd and each slapd, the load average and the ratio orgid / ldapadd; then the median;
#  2. three no-change syncs (each must send zero writes) and a 1%-change sync (on the last store);
#  3. the LDIF path: a store-only first load, `orgid ldap export --ldif`, `slapadd -q` into an
#     empty slapd, start it, `orgid ldap reconcile` (must find no drift): each step timed.
#   bench/ldap.sh                 # 100,000 people
#   PEOPLE=10000 RUNS=1 bench/ldap.sh    # smaller
#   INDEPENDENT_ROSTER=check bench/ldap.sh   # the default workflow mode: independent companies become roster checks (fewer accounts)
# It does not build: `cargo build --release -p orgid` first (outside the benchmark lock).
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${PEOPLE:-100000}
RUNS=${RUNS:-3}
BIN=${BIN:-$PWD/target/release/orgid}
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build --release -p orgid)"; exit 1; }
WORK=$(mktemp -d /tmp/orgid-ldap-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  rm -rf "$WORK"
}
trap cleanup EXIT
TIMINGS=""
case "$("$BIN" sync --help 2>&1)" in *--timings*) TIMINGS="--timings" ;; esac

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }

slapd_conf() { # dir
  local d=$1
  mkdir -p "$d/data"
  cat > "$d/slapd.conf" <<CONF
include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/inetorgperson.schema
include   /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile   $d/slapd.pid
argsfile  $d/slapd.args
database  mdb
maxsize   4294967296
suffix    "dc=example,dc=com"
rootdn    "cn=admin,dc=example,dc=com"
rootpw    secret
directory $d/data
dbnosync
index     objectClass eq
index     uid,employeeNumber eq
overlay   ppolicy
ppolicy_default "cn=default,ou=policies,dc=example,dc=com"
CONF
}

BASE_LDIF='dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: example

dn: ou=policies,dc=example,dc=com
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,dc=example,dc=com
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
'

run_slapd() { # dir port → SLAPD_PID
  /usr/sbin/slapd -f "$1/slapd.conf" -h "ldap://127.0.0.1:$2/" -d 0 >> "$1/slapd.log" 2>&1 &
  SLAPD_PID=$!
  PIDS+=("$SLAPD_PID")
  until ldapsearch -x -H "ldap://127.0.0.1:$2" -b "" -s base >/dev/null 2>&1; do sleep 0.05; done
}

start_slapd() { # dir port → SLAPD_PID (an empty directory with the base entries)
  slapd_conf "$1"
  run_slapd "$1" "$2"
  echo "$BASE_LDIF" | ldapadd -x -H "ldap://127.0.0.1:$2" -D cn=admin,dc=example,dc=com -w secret >/dev/null
}

stop_slapd() { kill "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m1" >/dev/null
python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m2" --change 0.01 >/dev/null
config() { # month folder, slapd port ("" = no [ldap]), store name
  cat > "$WORK/orgid.toml" <<TOML
[store]
url = "sqlite://$WORK/${3:-orgid}.db"
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
[workflow]
independent_roster = "${INDEPENDENT_ROSTER:-apply}"
[[sources]]
name = "bench"
kind = "roster"
companies = "$1/companies.csv"
roster = "$1/roster.csv"
TOML
  if [ -n "$2" ]; then cat >> "$WORK/orgid.toml" <<TOML
[ldap]
url = "ldap://127.0.0.1:$2"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = "secret"
base_dn = "dc=example,dc=com"
lock_check = false
concurrency = ${LDAP_CONCURRENCY:-32}
TOML
  fi
}
step() { # label, args… → prints time, CPU, peak memory, counts and LDAP operations; sets LAST_*
  local label=$1; shift
  local code=0
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" --config "$WORK/orgid.toml" "$@" --format json \
    > "$WORK/out.json" 2> "$WORK/err" || code=$?
  [ $code -eq 0 ] || [ $code -eq 4 ] || [ $code -eq 5 ] || { echo "$label failed ($code)"; head -c 2000 "$WORK/out.json"; tail -n 5 "$WORK/err"; exit 1; }
  read -r secs user sys kb < <(tail -n 1 "$WORK/time")
  LAST_SECS=$secs
  LAST_CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  LAST_UNAVAILABLE=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1])).get("directory") or {}; print(1 if l.get("unavailable") else 0)' "$WORK/out.json")
  local summary
  summary=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.get("counts") or {}; l=d.get("directory") or {}
t = (d.get("timings") or {}).get("phases") or []
print(d["status"], " ".join(f"{k}={v}" for k,v in c.items() if v), "| ldap applied=%s refused=%s%s" % (l.get("applied"), l.get("refused"), " UNAVAILABLE" if l.get("unavailable") else ""))
if t: print("      phases: " + " ".join("%s=%.2fs/%dMB" % (p["phase"], p["secs"], p["peak_rss_mb"]) for p in t))' "$WORK/out.json")
  printf '%-36s %7.2f s  cpu %6.2f s  %6.1f MB peak   %s\n' "$label" "$secs" "$LAST_CPU" "$(awk -v k="$kb" 'BEGIN {print k/1024}')" "$summary"
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); slapd $(/usr/sbin/slapd -VV 2>&1 | head -1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' || true) mdb dbnosync"
echo "binary:  $BIN ($(date -r "$BIN" -u '+%F %T UTC')); $PEOPLE people"

RATIOS=()
for run in $(seq 1 "$RUNS"); do
  rm -f "$WORK"/orgid.db*
  P1=$(free_port); rm -rf "$WORK/s1"; start_slapd "$WORK/s1" "$P1"; S1=$SLAPD_PID
  config "$WORK/m1" "$P1"
  echo "run $run (load average $(load))"
  before=$(cpu_of "$S1")
  step "orgid sync, empty store + slapd" sync $TIMINGS
  ORGID_SECS=$LAST_SECS ORGID_CPU=$LAST_CPU
  SLAPD1_CPU=$(awk -v a="$(cpu_of "$S1")" -v b="$before" 'BEGIN {printf "%.2f", a - b}')
  if [ "$LAST_UNAVAILABLE" = 1 ]; then
    echo "the directory went away during orgid's load (slapd crashed?); slapd's log:"; tail -n 5 "$WORK/s1/slapd.log"; exit 1
  fi
  if [ ! -s "$WORK/same.ldif" ]; then
    # The same entries as LDIF: everything orgid wrote, without operational attributes.
    ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$P1" -D cn=admin,dc=example,dc=com -w secret \
      -b dc=example,dc=com "(&(objectClass=*)(!(ou=policies))(!(cn=default)))" '*' \
      | python3 -c '
import base64, sys
def dn(block):
    first = block.split("\n", 1)[0]
    return base64.b64decode(first[4:]).decode() if first.startswith("dn:: ") else first[4:]
blocks = sys.stdin.read().strip().split("\n\n")
out = [b for b in blocks if dn(b) not in ("dc=example,dc=com", "ou=policies,dc=example,dc=com", "cn=default,ou=policies,dc=example,dc=com")]
# parents before children (unescaped commas only)
out.sort(key=lambda b: dn(b).replace("\\,", "").count(","))
print("\n\n".join(out))' > "$WORK/same.ldif"
  fi
  ENTRIES=$(grep -c '^dn: \|^dn:: ' "$WORK/same.ldif")
  P2=$(free_port); rm -rf "$WORK/s2"; start_slapd "$WORK/s2" "$P2"; S2=$SLAPD_PID
  before=$(cpu_of "$S2")
  /usr/bin/time -f "%e %U %S" -o "$WORK/time" ldapadd -x -H "ldap://127.0.0.1:$P2" -D cn=admin,dc=example,dc=com -w secret -f "$WORK/same.ldif" > /dev/null
  read -r LDAPADD_SECS u s < <(tail -n 1 "$WORK/time")
  LDAPADD_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
  SLAPD2_CPU=$(awk -v a="$(cpu_of "$S2")" -v b="$before" 'BEGIN {printf "%.2f", a - b}')
  stop_slapd "$S2"
  printf '%-36s %7.2f s  cpu %6.2f s  (%s entries)\n' "ldapadd of the same LDIF" "$LDAPADD_SECS" "$LDAPADD_CPU" "$ENTRIES"
  RATIO=$(awk -v a="$ORGID_SECS" -v b="$LDAPADD_SECS" 'BEGIN { printf "%.2f", a / b }')
  RATIOS+=("$RATIO")
  echo "  cpu: orgid $ORGID_CPU s + its slapd $SLAPD1_CPU s; ldapadd $LDAPADD_CPU s + its slapd $SLAPD2_CPU s; load average $(load)"
  echo "  ratio orgid / ldapadd: $RATIO"
  [ "$run" -eq "$RUNS" ] || stop_slapd "$S1"
done
echo "median ratio orgid / ldapadd over $RUNS runs: $(printf '%s\n' "${RATIOS[@]}" | median) (${RATIOS[*]})"

for i in 1 2 3; do step "orgid sync again, no change ($i)" sync $TIMINGS; done
config "$WORK/m2" "$P1"
step "orgid sync, month 2 (1% changed)" sync $TIMINGS
stop_slapd "$S1"

# The LDIF path: the store loaded first (no [ldap]), the tree exported and bulk-loaded.
if case "$("$BIN" ldap --help 2>&1)" in *export*) true ;; *) false ;; esac; then
  echo "LDIF path (load average $(load)):"
  config "$WORK/m1" "" ldif
  step "orgid sync, store only" sync
  P3=$(free_port); slapd_conf "$WORK/s3"
  config "$WORK/m1" "$P3" ldif
  t0=$(date +%s.%N)
  "$BIN" --config "$WORK/orgid.toml" ldap export --ldif "$WORK/export.ldif"
  t1=$(date +%s.%N)
  { echo "$BASE_LDIF"; cat "$WORK/export.ldif"; } > "$WORK/all.ldif"
  /usr/sbin/slapadd -q -f "$WORK/s3/slapd.conf" -l "$WORK/all.ldif"
  t2=$(date +%s.%N)
  run_slapd "$WORK/s3" "$P3"
  t3=$(date +%s.%N)
  "$BIN" --config "$WORK/orgid.toml" ldap reconcile | grep -v '^  ' | tee "$WORK/reconcile.txt"
  t4=$(date +%s.%N)
  grep -q 'no drift' "$WORK/reconcile.txt" || { echo "reconcile found drift after the LDIF load"; exit 1; }
  "$BIN" --config "$WORK/orgid.toml" ldap reconcile --dry-run | grep -q 'no drift' || { echo "drift on a second reconcile"; exit 1; }
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
    printf "export %.2f s + slapadd -q %.2f s + slapd start %.2f s + reconcile (no drift) %.2f s = %.2f s\n", b - a, c - b, d - c, e - d, e - a }'
  config "$WORK/m1" "$P3" ldif
  step "orgid sync after it, no change" sync $TIMINGS
fi
