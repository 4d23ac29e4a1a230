"""Python peer for bench_queue: multiprocessing.Queue throughput and JoinableQueue tasks/s."""
import os
import sys

# This file is called queue.py, like the standard module multiprocessing imports: drop its own
# directory from the path so that `import queue` finds the standard one.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402

RUNS = 3
SENTINEL = None


def report(workload, value, unit="msgs/s"):
    print(json.dumps({"workload": workload, "impl": "python mp", "value": value, "unit": unit,
                      "higher_is_better": True}), flush=True)


def producer(q, n, size, go):
    go.wait()
    pad = b"\0" * (size - 8)
    for i in range(n):
        q.put(struct.pack("<Q", i) + pad)


def consumer(q, go):
    go.wait()
    while True:
        x = q.get()
        if x is SENTINEL:
            return


def mpmc(np_, nc, per_producer, size):
    q = mp.Queue()
    go = mp.Event()
    prods = [mp.Process(target=producer, args=(q, per_producer, size, go)) for _ in range(np_)]
    conss = [mp.Process(target=consumer, args=(q, go)) for _ in range(nc)]
    for p in conss + prods:
        p.start()
    time.sleep(0.2)  # let every child reach go.wait()
    t0 = time.perf_counter()
    go.set()
    for p in prods:
        p.join()
    for _ in range(nc):
        q.put(SENTINEL)
    for p in conss:
        p.join()
    return np_ * per_producer / (time.perf_counter() - t0)


def joinable_consumer(q):
    while True:
        x = q.get()
        q.task_done()
        if x is SENTINEL:
            return


def joinable(n):
    q = mp.JoinableQueue()
    c = mp.Process(target=joinable_consumer, args=(q,))
    c.start()
    t0 = time.perf_counter()
    for i in range(n):
        q.put(i)
    q.join()
    v = n / (time.perf_counter() - t0)
    q.put(SENTINEL)
    c.join()
    return v


def main():
    report("queue 1 -> 1, 8 B", statistics.median(mpmc(1, 1, 200_000, 8) for _ in range(RUNS)))
    report("queue 1 -> 1, 1 KiB", statistics.median(mpmc(1, 1, 100_000, 1024) for _ in range(RUNS)))
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # both ends on one CPU (children inherit it)
    report("queue 1 -> 1, 8 B (pinned)", statistics.median(mpmc(1, 1, 100_000, 8) for _ in range(RUNS)))
    os.sched_setaffinity(0, cpus)
    report("queue 4 -> 4, 8 B", statistics.median(mpmc(4, 4, 50_000, 8) for _ in range(RUNS)))
    report("JoinableQueue put + get + task_done + join",
           statistics.median(joinable(100_000) for _ in range(RUNS)), "tasks/s")


if __name__ == "__main__":
    main()
