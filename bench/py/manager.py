"""Python peer for bench_manager: multiprocessing.Manager().dict() / .list() on the same workloads."""
import os
import sys

# This directory holds queue.py, which would shadow the standard library's queue module that
# multiprocessing.managers imports.
sys.path = [p for p in sys.path if os.path.realpath(p or ".") != os.path.dirname(os.path.realpath(__file__))]

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics
import time

RUNS = 5


def report(workload, value, unit, higher):
    print(json.dumps({"workload": workload, "impl": "python mp Manager", "value": value, "unit": unit,
                      "higher_is_better": higher}), flush=True)


def e16_child(d, i):
    d["num"] = 100 + i


def e16(m):
    d = m.dict()
    t0 = time.perf_counter()
    for i in range(10):
        p = mp.Process(target=e16_child, args=(d, i))
        p.start()
        p.join()
    return (time.perf_counter() - t0) * 1e3


def setget_child(d, k, iters):
    for i in range(iters):
        d[k] = i
        assert d[k] == i


def set_get(m, procs, iters):
    d = m.dict()
    t0 = time.perf_counter()
    if procs == 1:
        setget_child(d, "k0", iters)
    else:
        ps = [mp.Process(target=setget_child, args=(d, f"k{p}", iters)) for p in range(procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
    return 2.0 * procs * iters / (time.perf_counter() - t0)


def update_1000(m):
    d = m.dict()
    src = {f"key{i}": i for i in range(1000)}
    n = 100
    t0 = time.perf_counter()
    for _ in range(n):
        d.update(src)
    return n / (time.perf_counter() - t0)


def extend_1000(m):
    lst = m.list()
    src = list(range(1000))
    n = 100
    t0 = time.perf_counter()
    for i in range(n):
        lst.extend(src)
        if i % 50 == 49:
            del lst[:]
    return n / (time.perf_counter() - t0)


def main():
    mp.set_start_method("fork")
    with mp.Manager() as m:
        work = [
            ("manager E16: 10 processes write a dict, each joined", "ms", False, e16),
            ("manager dict d[k]=v + d[k], 1 process", "ops/s", True, lambda m: set_get(m, 1, 3000)),
            ("manager dict d[k]=v + d[k], 10 processes", "ops/s", True, lambda m: set_get(m, 10, 1500)),
            ("manager dict update() of 1,000 items", "calls/s", True, update_1000),
            ("manager list extend() of 1,000 items", "calls/s", True, extend_1000),
        ]
        for name, unit, higher, fn in work:
            report(name, statistics.median(fn(m) for _ in range(RUNS)), unit, higher)


if __name__ == "__main__":
    main()
