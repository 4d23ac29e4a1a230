#!/usr/bin/env python3
"""Python multiprocessing.Pipe peer of bench_connection: round trip (8 B, 1 KiB; unpinned and
pinned to CPU 0) and 1 KiB one-way throughput. One JSON object per line on stdout."""
import json
import multiprocessing as mp
import os
import statistics
import time

RUNS = 5


def emit(workload, value, unit, higher):
    print(json.dumps({"workload": workload, "impl": "python mp", "value": round(value, 3),
                      "unit": unit, "higher_is_better": higher}), flush=True)


def echo(conn, other):
    other.close()  # the parent's end: close it, or EOF never comes
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def round_trip_us(size, iters):
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, a))
    p.start()
    b.close()
    msg = b"x" * size
    for _ in range(iters // 10):
        a.send_bytes(msg)
        a.recv_bytes()
    t0 = time.perf_counter()
    for _ in range(iters):
        a.send_bytes(msg)
        a.recv_bytes()
    us = (time.perf_counter() - t0) / iters * 1e6
    a.close()
    p.join()
    return us


def sender(conn, other, count):
    other.close()
    msg = b"x" * 1024
    for _ in range(count):
        conn.send_bytes(msg)
    conn.close()


def throughput(count):
    r, w = mp.Pipe(duplex=False)
    p = mp.Process(target=sender, args=(w, r, count))
    p.start()
    w.close()
    t0 = time.perf_counter()
    for _ in range(count):
        r.recv_bytes()
    rate = count / (time.perf_counter() - t0)
    p.join()
    r.close()
    return rate


def main():
    mp.set_start_method("fork")
    all_cpus = os.sched_getaffinity(0)
    for pinned in (False, True):
        os.sched_setaffinity(0, {0} if pinned else all_cpus)
        tag = " (pinned)" if pinned else " (unpinned)"
        iters = 5000 if pinned else 2000
        for size, label in ((8, "8 B"), (1024, "1 KiB")):
            v = statistics.median(round_trip_us(size, iters) for _ in range(RUNS))
            emit("Pipe round trip " + label + tag, v, "us", False)
        v = statistics.median(throughput(50000) for _ in range(3))
        emit("Pipe 1 KiB one-way throughput" + tag, v, "msgs/s", True)


if __name__ == "__main__":
    main()
