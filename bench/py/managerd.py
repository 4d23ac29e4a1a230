#!/usr/bin/env python3
"""ipc-managerd vs redis-server under redis-benchmark, over Unix sockets, measured in one run.

Usage: managerd.py [BUILD_DIR]   (default: $IPCKIT_BUILD_DIR, else build/release)
Starts ipc-managerd and a redis-server (persistence off) on temporary Unix sockets, runs
`redis-benchmark -t set,get,incr,hset,lpush,rpop,lrange_100` with 1 and 50 clients, without
pipelining and with -P 16, each test against both servers back to back (order alternating), and
prints one JSON line per test and server (median requests/s of the repetitions). Progress goes to
stderr.
"""
import csv
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = ["set", "get", "incr", "hset", "lpush", "rpop", "lrange_100"]
# (clients, pipeline, requests per run): sized so that a run lasts at least about 0.2 s: shorter
# runs swung by 20 % from one bench run to the next (redis-benchmark times a run in whole
# milliseconds: 30,000 pipelined requests took 17 to 20 ms, and the ratio read 0.85x to 1.1x).
CONFIGS = [(1, 1, 3000), (1, 16, 60000), (50, 1, 25000), (50, 16, 300000)]
# The machine is shared and noisy: each test runs against both servers back to back, REPS
# times with the order alternating, and the median is reported.
REPS = 7


def wait_socket(path, proc, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode})")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"no server on {path}")


def run_benchmark(sock, test, clients, pipeline, n):
    cmd = ["redis-benchmark", "-s", sock, "-t", test, "-c", str(clients), "-n", str(n), "--csv"]
    if pipeline > 1:
        cmd += ["-P", str(pipeline)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=300).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) < 2 or row[0] == "test" or "needed to benchmark" in row[0]:
            continue
        name = row[0].split(" ")[0]
        try:
            rows[name] = float(row[1])
        except ValueError:
            pass
    return rows


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("IPCKIT_BUILD_DIR",
                                                                  os.path.join(HERE, "..", "..", "build", "release"))
    # Accept the build dir or its bench/ subdirectory (what ./dev.sh bench hands run.py).
    candidates = [os.path.join(b, "daemon", "ipc-managerd") for b in (build, os.path.dirname(os.path.abspath(build)))]
    managerd = next((c for c in candidates if os.access(c, os.X_OK)), candidates[0])
    if not os.access(managerd, os.X_OK):
        print(f"managerd.py: {managerd} not built", file=sys.stderr)
        return 1
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        print("managerd.py: redis-server / redis-benchmark not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="ipckit-bench-")
    ours_sock, redis_sock = os.path.join(tmp, "managerd.sock"), os.path.join(tmp, "redis.sock")
    procs = []
    try:
        ours = subprocess.Popen([managerd, "--socket", ours_sock], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(ours)
        redis = subprocess.Popen(["redis-server", "--save", "", "--appendonly", "no", "--port", "0",
                                  "--unixsocket", redis_sock, "--dir", tmp], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(redis)
        wait_socket(ours_sock, ours)
        wait_socket(redis_sock, redis)
        servers = [("ipckit", ours_sock), ("redis", redis_sock)]
        for clients, pipeline, n in CONFIGS:
            print(f"# c={clients} P={pipeline}", file=sys.stderr, flush=True)
            samples = {}
            for test in TESTS:
                for rep in range(REPS):
                    order = servers if rep % 2 == 0 else servers[::-1]  # alternate who runs first
                    for impl, sock in order:
                        for name, rps in run_benchmark(sock, test, clients, pipeline, n).items():
                            samples.setdefault((name, impl), []).append(rps)
            for (test, impl), values in samples.items():
                wl = f"redis-benchmark {test}, unix, c={clients}" + (f", -P {pipeline}" if pipeline > 1 else "")
                print(json.dumps({"workload": wl, "impl": impl, "value": round(statistics.median(values), 1),
                                  "unit": "req/s", "higher_is_better": True}), flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
