"""Python peer for bench_sync: multiprocessing Lock and Value/Array under their locks."""
import json
import multiprocessing as mp
import statistics
import time

UNCONTENDED_ITERS = 500_000
PROCS = 4
PER_PROC = 25_000
RUNS = 5


def report(workload, value, unit, higher):
    print(json.dumps({"workload": workload, "impl": "python mp", "value": value, "unit": unit,
                      "higher_is_better": higher}), flush=True)


def uncontended():
    lock = mp.Lock()
    t0 = time.perf_counter()
    for _ in range(UNCONTENDED_ITERS):
        lock.acquire()
        lock.release()
    return UNCONTENDED_ITERS / (time.perf_counter() - t0) / 1e6


def incr(v, go):
    go.wait()
    for _ in range(PER_PROC):
        with v.get_lock():
            v.value += 1


def contended(ctx):
    v = ctx.Value('l', 0)
    go = ctx.Event()
    ps = [ctx.Process(target=incr, args=(v, go)) for _ in range(PROCS)]
    for p in ps:
        p.start()
    t0 = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    assert v.value == PROCS * PER_PROC
    return PROCS * PER_PROC / dt / 1e6


def add100(arr):
    with arr.get_lock():
        for i in range(len(arr)):
            arr[i] += 100


def array_ms(ctx):
    t0 = time.perf_counter()
    arr = ctx.Array('i', 1000)
    ps = [ctx.Process(target=add100, args=(arr,)) for _ in range(5)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    assert arr[999] == 500
    return dt * 1e3


def main():
    ctx = mp.get_context("fork")
    report("lock acquire+release, uncontended", statistics.median(uncontended() for _ in range(RUNS)), "M ops/s", True)
    report("counter += 1 under lock, 4 processes", statistics.median(contended(ctx) for _ in range(RUNS)),
           "M ops/s", True)
    report("Array(1000): 5 processes add 100 each", statistics.median(array_ms(ctx) for _ in range(9)), "ms", False)


if __name__ == "__main__":
    main()
