#!/usr/bin/env bash
# dev.sh: the README's commands. On a fresh Debian 12 machine (as root) each one installs the
# missing packages, configures and builds, then:
#   ./dev.sh demo   runs the showcase
#   ./dev.sh test   runs every test through ctest and prints its summary
#   ./dev.sh bench  builds optimised and prints the benchmark table (figures beside the peers')
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# Debian packages the build, the tests and the benchmarks need (DESIGN.md, Dependencies).
PACKAGES=(cmake make g++ pkg-config libboost-dev libcereal-dev doctest-dev libcli11-dev libfmt-dev
          libssl-dev nlohmann-json3-dev redis-server redis-tools libbenchmark-dev procps)
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
  log "showcase: Process (start, arguments, names, join, exit codes)"
  "$bin/examples/process_start"
  "$bin/examples/process_exitcodes"
  log "showcase: memory isolation"
  "$bin/examples/memory_isolation"
  log "showcase: Queue (bounded API, ping-pong through a queue, JoinableQueue with daemonic consumers)"
  "$bin/examples/queue_basics"
  "$bin/examples/ping_pong"
  "$bin/examples/joinable_queue"
}

run_tests() {
  log "running tests"
  cd build/dev
  ctest --timeout 180 -j "$JOBS" --output-on-failure "$@"
}

run_bench() {
  build release
  log "running benchmarks (ratios are measured in this run)"
  python3 bench/run.py build/release/bench
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo) install_deps; build dev; demo ;;
  test) install_deps; build dev; run_tests "$@" ;;
  bench) install_deps; run_bench "$@" ;;
  *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac
