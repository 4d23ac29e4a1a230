#!/usr/bin/env bash
# dev.sh: the README's commands. On a fresh Debian 12 machine (as root) each one installs the
# missing packages, configures and builds, then:
#   ./dev.sh demo   runs the showcase
#   ./dev.sh test   also builds the release preset, then runs every test through ctest and prints
#                   its summary
#   ./dev.sh bench  builds optimised and prints the benchmark table (figures beside the peers')
#   ./dev.sh fuzz   builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (30)
#   ./dev.sh package  builds optimised with prefix /usr and writes the .deb packages to dist/
#   ./dev.sh redis-suite [family ...]  runs Redis 7.0.15's own Tcl tests against redis-server and
#                   ipc-managerd side by side and prints what each passed (tests/redis-suite/run.sh)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# Debian packages the build, the tests and the benchmarks need (DESIGN.md, Dependencies).
PACKAGES=(cmake make g++ pkg-config libboost-dev libcereal-dev doctest-dev libcli11-dev libfmt-dev
          libssl-dev nlohmann-json3-dev libedit-dev redis-server redis-tools libbenchmark-dev procps
          help2man e2fsprogs)
JOBS=$(nproc 2>/dev/null || echo 2)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_deps() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # Any python3 will do for the benchmarks' peers (it may come from outside Debian's packages).
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  local preset=$1
  if [ ! -f "build/$preset/CMakeCache.txt" ]; then
    log "configuring ($preset)"
    cmake --preset "$preset" >/dev/null
  fi
  log "building ($preset)"
  cmake --build --preset "$preset" -j "$JOBS"
}

demo() {
  local bin=build/dev
  log "showcase: Process — start with arguments, names and pids"
  "$bin/examples/process_start"
  log "showcase: Process — join orders the output, join(timeout) returns early"
  "$bin/examples/process_join"
  log "showcase: Process — exit codes (return value, SystemExit, exception, signals)"
  "$bin/examples/process_exitcodes"
  log "showcase: Process — start all, then join all"
  "$bin/examples/parallel_download"
  log "showcase: Process — memory is isolated between processes"
  "$bin/examples/memory_isolation"
  log "showcase: lifecycles (E06 zombie, E07 orphan, E08 daemonic) and ipc-lifecycle"
  "$bin/examples/zombie_process"
  "$bin/examples/orphan_process" | cat  # the pipe makes the shell wait for the orphans' output
  "$bin/examples/daemon_process"
  local lc="$bin/tools/ipc-lifecycle/ipc-lifecycle" pidfile
  pidfile=$(mktemp -u "${TMPDIR:-/tmp}/ipc-lifecycle-demo.XXXXXX.pid")
  "$lc" zombie --hold 0.5
  "$lc" orphan --hold 0.5
  "$lc" orphan --subreaper --hold 0.5
  "$lc" daemonic --hold 0.5
  "$lc" daemonize --pidfile "$pidfile"
  "$lc" daemonize --keep --hold 30 --pidfile "$pidfile"
  "$lc" daemonize --stop --pidfile "$pidfile"
  log "showcase: shared Array under its lock, tickets never oversold, semaphore slots"
  "$bin/examples/shared_array"
  "$bin/examples/ticket_lock"
  "$bin/examples/semaphore_wc" --bounded
  log "showcase: Pipe ping-pong and the close-unused-ends rule; echo server, one process per client"
  "$bin/examples/pipe_ping_pong"
  "$bin/examples/echo_server"
  log "showcase: ipc-managerd (shared dicts, lists, counters over RESP) driven by ipc-ctl"
  local mdir ctl
  mdir=$(mktemp -d)
  "$bin/daemon/ipc-managerd" --socket "$mdir/managerd.sock" --snapshot "$mdir/dump.snap" \
    --logfile "$mdir/managerd.log" --daemonize --pidfile "$mdir/managerd.pid"
  ctl="$bin/tools/ipc-ctl/ipc-ctl --socket $mdir/managerd.sock"
  $ctl ping
  $ctl hset workers w1 idle w2 busy
  $ctl --json hgetall workers
  $ctl incrby jobs_done 5
  $ctl rpush queue job-1 job-2 job-3
  $ctl --json lrange queue 0 -1
  $ctl blpop queue 1
  $ctl incr workers || echo "(ipc-ctl exits 1 on an error reply, as above)"
  $ctl save
  $ctl shutdown
  rm -rf "$mdir"
  log "showcase: Manager and proxies (E16 dict, shared list, a counter done right, proxies in Pool tasks) on a private server"
  "$bin/examples/manager_dict"
  "$bin/examples/manager_list"
  "$bin/examples/manager_counter"
  "$bin/examples/manager_pool"
  log "showcase: one program, three servers: private, ipc-managerd, redis-server (only the address changes)"
  mdir=$(mktemp -d)
  "$bin/examples/manager_anywhere"
  "$bin/daemon/ipc-managerd" --socket "$mdir/managerd.sock" --logfile "$mdir/managerd.log" \
    --daemonize --pidfile "$mdir/managerd.pid"
  "$bin/examples/manager_anywhere" "unix:$mdir/managerd.sock"
  "$bin/tools/ipc-ctl/ipc-ctl" --socket "$mdir/managerd.sock" shutdown
  redis-server --port 0 --unixsocket "$mdir/redis.sock" --save "" --appendonly no --daemonize yes \
    --pidfile "$mdir/redis.pid" --logfile "$mdir/redis.log" --dir "$mdir"
  for _ in $(seq 100); do [ -S "$mdir/redis.sock" ] && break; sleep 0.05; done
  "$bin/examples/manager_anywhere" "unix:$mdir/redis.sock"
  redis-cli -s "$mdir/redis.sock" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$mdir"
  log "showcase: Queue (bounded API, ping-pong through a queue, JoinableQueue with daemonic consumers)"
  "$bin/examples/queue_basics"
  "$bin/examples/ping_pong"
  "$bin/examples/joinable_queue"
  log "showcase: Pool (apply_async with callbacks, close/join; a CPU-bound map) and ProcessPoolExecutor"
  "$bin/examples/pool_apply_async"
  "$bin/examples/pool_map_primes"
  "$bin/examples/executor_download"
  "$bin/examples/executor_callback"
}

run_tests() {
  log "running tests"
  cd build/dev
  ctest --timeout 180 -j "$JOBS" --output-on-failure "$@"
}

run_bench() {
  build release
  log "running benchmarks (ratios are measured in this run)"
  python3 bench/run.py build/release "$@"
}

run_package() {
  build package
  log "building the Debian packages into dist/"
  (cd build/package && cpack -G DEB -B "$PWD/../../dist" >/dev/null)
  rm -rf dist/_CPack_Packages
  ls -l dist/*.deb
}

run_fuzz() {
  build fuzz
  local t corpus
  for t in build/fuzz/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    corpus="build/fuzz/corpus/$(basename "$t")"
    mkdir -p "$corpus"
    log "fuzzing $(basename "$t") for ${FUZZ_SECONDS:-30} s"
    # Seeds checked in under fuzz/corpus/<target> are read too (new inputs go to the first dir).
    "$t" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 "$corpus" \
      $( [ -d "fuzz/corpus/$(basename "$t")" ] && echo "fuzz/corpus/$(basename "$t")" ) 2>&1 | tail -n 2
  done
}

run_redis_suite() {
  log "building ipc-managerd"
  cmake --build build/dev -j "$JOBS" --target ipc-managerd
  log "running Redis's test suite against redis-server and ipc-managerd (slow: minutes per family)"
  tests/redis-suite/run.sh "$@"
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo) install_deps; build dev; demo ;;
  # The release preset too (what ./dev.sh bench builds): GCC warns at -O3 about code -O0 does not
  # inline, and -Werror turns that into a build only a benchmark run would find broken.
  test) install_deps; build dev; build release; run_tests "$@" ;;
  bench) install_deps; run_bench "$@" ;;
  fuzz) PACKAGES+=(clang libclang-rt-14-dev); install_deps; run_fuzz ;;
  package) install_deps; run_package ;;
  redis-suite) PACKAGES+=(tcl curl patch); install_deps; [ -f build/dev/CMakeCache.txt ] || cmake --preset dev >/dev/null
    run_redis_suite "$@" ;;
  *) echo "usage: $0 demo|test|bench|fuzz|package|redis-suite" >&2; exit 2 ;;
esac
