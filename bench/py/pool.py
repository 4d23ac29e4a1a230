"""Python peer for bench_pool: multiprocessing.Pool and ProcessPoolExecutor throughput, and the
speed-up of a CPU-bound map on every core."""
import os
import sys

# bench/py holds a queue.py (the queue benchmark's peer): drop this directory from the path so
# that multiprocessing's `import queue` finds the standard module.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

RUNS = 3
MAP_TASKS = 100_000
APPLY_TASKS = 20_000
PRIME_INPUTS = 2_000
PRIME_BASE = 600  # smaller n than the C++ side: only the speed-up is compared


def report(workload, value, unit="tasks/s"):
    print(json.dumps({"workload": workload, "impl": "python mp", "value": value, "unit": unit,
                      "higher_is_better": True}), flush=True)


def square(x):
    return x * x


def count_primes(n):
    count = 0
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        count += prime
    return count


def rate(n, fn):
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def median(fn, runs=RUNS):
    return statistics.median(fn() for _ in range(runs))


def main():
    cores = os.cpu_count()
    xs = list(range(MAP_TASKS))
    with mp.Pool() as pool:
        pool.map(square, xs)
        report("Pool.map x*x 100k tasks, chunksize 1",
               median(lambda: rate(MAP_TASKS, lambda: pool.map(square, xs, chunksize=1))))
        report("Pool.map x*x 100k tasks, default chunksize",
               median(lambda: rate(MAP_TASKS, lambda: pool.map(square, xs))))

        def applies():
            rs = [pool.apply_async(square, (i,)) for i in range(APPLY_TASKS)]
            for r in rs:
                r.get()
        report("Pool.apply_async + get, 20k tasks", median(lambda: rate(APPLY_TASKS, applies)))
    with ProcessPoolExecutor() as ex:
        ex.submit(square, 1).result()

        def futures():
            fs = [ex.submit(square, i) for i in range(APPLY_TASKS)]
            for f in fs:
                f.result()
        report("ProcessPoolExecutor submit + result, 20k tasks", median(lambda: rate(APPLY_TASKS, futures)))
    ns = [PRIME_BASE + i for i in range(PRIME_INPUTS)]
    with mp.Pool() as pool:
        pool.map(count_primes, [10, 20])

        def serial():
            t0 = time.perf_counter()
            for n in ns:
                count_primes(n)
            return time.perf_counter() - t0

        def parallel():
            t0 = time.perf_counter()
            pool.map(count_primes, ns)
            return time.perf_counter() - t0
        s = median(serial)
        p = median(parallel)
        report(f"CPU-bound map speed-up on {cores} cores (ideal {cores})", s / p, "x")


if __name__ == "__main__":
    main()
