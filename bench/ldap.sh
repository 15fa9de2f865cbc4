#!/usr/bin/env bash
# Benchmark of LDAP provisioning. In one run:
#  1. `orgid sync` of a generated 100,000-person roster (everyone eligible) into an empty store and
#     an empty slapd (the time includes reading, planning, the store and every LDAP write);
#  2. the same entries (dumped from that slapd) as LDIF through `ldapadd` into a second empty slapd
#     of the same configuration; prints both times and the ratio;
#  3. the first load again with `ldap.transactions = true` into a third empty slapd (and store);
#  4. three no-change syncs (each must send zero writes) and a 1%-change sync (on the first store).
#   bench/ldap.sh                 # 100,000 people
#   PEOPLE=10000 bench/ldap.sh    # smaller
#   INDEPENDENT_ROSTER=check bench/ldap.sh   # the default workflow mode: independent companies become roster checks (fewer accounts)
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${PEOPLE:-100000}
cargo build --release -q -p orgid
BIN=$PWD/target/release/orgid
WORK=$(mktemp -d /tmp/orgid-ldap-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_slapd() { # dir port
  local d=$1 port=$2
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
  /usr/sbin/slapd -f "$d/slapd.conf" -h "ldap://127.0.0.1:$port/" -d 0 > "$d/slapd.log" 2>&1 &
  PIDS+=($!)
  until ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null 2>&1; do sleep 0.05; done
  ldapadd -x -H "ldap://127.0.0.1:$port" -D cn=admin,dc=example,dc=com -w secret >/dev/null <<LDIF
dn: dc=example,dc=com
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
LDIF
}

P1=$(free_port); start_slapd "$WORK/s1" "$P1"
P2=$(free_port); start_slapd "$WORK/s2" "$P2"

python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m1" >/dev/null
python3 bench/gen_roster.py --people "$PEOPLE" --out "$WORK/m2" --change 0.01 >/dev/null
config() { # month folder [slapd port] [store name] [transactions]
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
[ldap]
url = "ldap://127.0.0.1:${2:-$P1}"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = "secret"
base_dn = "dc=example,dc=com"
lock_check = false
concurrency = ${LDAP_CONCURRENCY:-32}
transactions = ${4:-false}
[[sources]]
name = "bench"
kind = "roster"
companies = "$1/companies.csv"
roster = "$1/roster.csv"
TOML
}
step() { # label, args… → prints time, peak memory, counts and LDAP operations
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --config "$WORK/orgid.toml" "$@" --format json > "$WORK/out.json" || {
    code=$?; [ $code -eq 4 ] || { echo "$label failed ($code)"; head -c 2000 "$WORK/out.json"; exit 1; }; }
  read -r secs kb < <(tail -n 1 "$WORK/time")
  LAST_SECS=$secs
  LAST_UNAVAILABLE=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1])).get("directory") or {}; print(1 if l.get("unavailable") else 0)' "$WORK/out.json")
  local summary
  summary=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.get("counts") or {}; l=d.get("directory") or {}
print(d["status"], " ".join(f"{k}={v}" for k,v in c.items() if v), "| ldap applied=%s refused=%s%s" % (l.get("applied"), l.get("refused"), " UNAVAILABLE" if l.get("unavailable") else ""))' "$WORK/out.json")
  printf '%-36s %7.2f s  %6.1f MB peak   %s\n' "$label" "$secs" "$(awk -v k="$kb" 'BEGIN {print k/1024}')" "$summary"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); slapd $(/usr/sbin/slapd -VV 2>&1 | head -1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' || true) mdb dbnosync"
config "$WORK/m1"
step "orgid sync, empty store + slapd" sync
ORGID_SECS=$LAST_SECS
if [ "$LAST_UNAVAILABLE" = 1 ]; then
  echo "the directory went away during orgid's load (slapd crashed?); no comparison. slapd's log:"; tail -n 5 "$WORK/s1/slapd.log"; exit 1
fi

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
ENTRIES=$(grep -c '^dn: \|^dn:: ' "$WORK/same.ldif")
/usr/bin/time -f "%e" -o "$WORK/time" ldapadd -x -H "ldap://127.0.0.1:$P2" -D cn=admin,dc=example,dc=com -w secret -f "$WORK/same.ldif" > /dev/null
LDAPADD_SECS=$(tail -n 1 "$WORK/time")
printf '%-36s %7.2f s  (%s entries)\n' "ldapadd of the same LDIF" "$LDAPADD_SECS" "$ENTRIES"
awk -v a="$ORGID_SECS" -v b="$LDAPADD_SECS" 'BEGIN { printf "ratio orgid / ldapadd: %.2f\n", a / b }'

P3=$(free_port); start_slapd "$WORK/s3" "$P3"
config "$WORK/m1" "$P3" orgid-txn true
step "orgid sync, ldap.transactions = true" sync
if [ "$LAST_UNAVAILABLE" = 1 ]; then
  echo "ratio orgid (transactions) / ldapadd: none, the load did not complete (the directory went away: slapd crashed?)"
else
  awk -v a="$LAST_SECS" -v b="$LDAPADD_SECS" 'BEGIN { printf "ratio orgid (transactions) / ldapadd: %.2f\n", a / b }'
fi

config "$WORK/m1"

for i in 1 2 3; do step "orgid sync again, no change ($i)" sync; done
config "$WORK/m2"
step "orgid sync, month 2 (1% changed)" sync
