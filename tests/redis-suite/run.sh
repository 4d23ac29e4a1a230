#!/usr/bin/env bash
# run.sh: runs Redis 7.0.15's own Tcl test suite (tests/unit/<family>.tcl, external-server mode)
# against redis-server and the built ipc-managerd side by side, under the same conditions (AUTH
# on every connection, one database), and prints per family how many tests each passed and the
# names of the tests only redis-server passed.
#
#   tests/redis-suite/run.sh [family ...]      (default: the families ipc-managerd serves)
#
# Environment: MANAGERD (the daemon binary, default build/dev/daemon/ipc-managerd),
# REDIS_SUITE_CACHE (download and extraction dir, default build/redis-suite),
# REDIS_SUITE_TIMEOUT (seconds one test may stay silent before the suite gives up, default 600),
# REDIS_SUITE_ARGS (more runtest options, split on spaces, e.g. "--only /^SCAN").
#
# The suite runs with --durable (an error in one test does not end its file), --ignore-encoding
# and --ignore-digest (internal representation names and DEBUG DIGEST are Redis's own) and
# --tags -needs:debug: DEBUG stays disabled (redis-server's default), so the tests that need it
# count for neither server.
# Logs: $REDIS_SUITE_CACHE/logs/<server>-<family>.log.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
root=$PWD

version=7.0.15
url=http://deb.debian.org/debian/pool/main/r/redis/redis_${version}.orig.tar.gz
sha256=4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982
cache=${REDIS_SUITE_CACHE:-$root/build/redis-suite}
managerd=${MANAGERD:-$root/build/dev/daemon/ipc-managerd}
timeout=${REDIS_SUITE_TIMEOUT:-600}
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(unit/type/string unit/type/incr unit/type/list unit/type/list-2
  unit/type/list-3 unit/type/hash unit/type/set unit/keyspace unit/expire unit/multi unit/protocol
  unit/info unit/info-command unit/pubsub unit/scan)

for tool in redis-server redis-cli tclsh python3 patch; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (apt-get install redis-server tcl python3 patch)" >&2; exit 2; }
done
[ -x "$managerd" ] || { echo "run.sh: $managerd is not built (cmake --build build/dev --target ipc-managerd)" >&2; exit 2; }

# The source tarball, downloaded once and checked.
mkdir -p "$cache"
tarball=$cache/redis_${version}.orig.tar.gz
if [ ! -f "$tarball" ] || ! echo "$sha256  $tarball" | sha256sum -c --quiet - 2>/dev/null; then
  echo "downloading $url"
  if command -v curl >/dev/null; then curl -fsSL -o "$tarball.part" "$url"; else wget -qO "$tarball.part" "$url"; fi
  echo "$sha256  $tarball.part" | sha256sum -c --quiet - || { echo "run.sh: sha256 mismatch for $url" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
fi

# A fresh tree with the AUTH patch (every new connection to the server under test sends AUTH first).
src=$cache/redis-$version
rm -rf "$src"
tar -xzf "$tarball" -C "$cache"
patch -s -d "$src" -p1 < "$root/tests/redis-suite/auth.patch"

work=$(mktemp -d "${TMPDIR:-/tmp}/redis-suite.XXXXXX")
logs=$cache/logs
mkdir -p "$logs"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
(umask 077; echo "$password" > "$work/password")

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --requirepass "$password" --save '' --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
managerd_port=$(free_port)
"$managerd" --no-unix --tcp "127.0.0.1:$managerd_port" --requirepass-file "$work/password" --save '' \
  --no-save-on-shutdown --logfile "$work/managerd.log" &
pids+=($!)
for port in "$redis_port" "$managerd_port"; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

# run_family SERVER PORT FAMILY BASEPORT: one family against one server (the suite listens for its
# own clients near BASEPORT); the log is the result.
run_family() {
  local server=$1 port=$2 family=$3 baseport=$4
  (cd "$src" && TERM=dumb REDIS_SUITE_PASSWORD=$password tclsh tests/test_helper.tcl \
    --host 127.0.0.1 --port "$port" --singledb --clients 1 --durable --timeout "$timeout" \
    --ignore-encoding --ignore-digest --tags -needs:debug --baseport "$baseport" --single "$family" \
    ${REDIS_SUITE_ARGS:-}) > "$logs/$server-${family//\//_}.log" 2>&1 || true
}

# The servers are shared by the families, run one after another, and some families leave settings
# behind (unit/type/list and unit/type/set raise proto-max-bulk-len to 10 GB for their large-value
# tests and never lower it: unit/protocol then waits for a 2 GB argument instead of refusing it).
reset_server() {
  redis-cli -h 127.0.0.1 -p "$1" --no-auth-warning -a "$password" CONFIG SET proto-max-bulk-len 536870912 >/dev/null
}

for family in "${families[@]}"; do
  reset_server "$redis_port"
  reset_server "$managerd_port"
  run_family redis-server "$redis_port" "$family" 21111 &
  run_family ipc-managerd "$managerd_port" "$family" 23111
  wait $!
done

python3 - "$logs" "${families[@]}" <<'EOF'
import collections, re, sys
logs, families = sys.argv[1], sys.argv[2:]

def passed(server, family):
    path = f"{logs}/{server}-{family.replace('/', '_')}.log"
    names = collections.Counter()
    for line in open(path, errors="replace"):
        m = re.match(r"\[ok\]: (.*) \(\d+ ms\)$", line.rstrip("\n"))
        if m:
            names[m.group(1)] += 1
    return names

rows, total_r, total_m = [], 0, 0
for f in families:
    r, m = passed("redis-server", f), passed("ipc-managerd", f)
    only = sorted((r - m).elements())
    total_r += sum(r.values())
    total_m += sum(m.values())
    rows.append((f, sum(r.values()), sum(m.values()), only))
w = max(len(f) for f in families + ["total"])
print(f"{'family':<{w}}  redis-server  ipc-managerd  only redis-server passes")
for f, nr, nm, only in rows:
    print(f"{f:<{w}}  {nr:>12}  {nm:>12}  {'; '.join(only) if only else '-'}")
print(f"{'total':<{w}}  {total_r:>12}  {total_m:>12}")
EOF
