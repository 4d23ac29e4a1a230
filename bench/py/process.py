"""Python peer for bench_process: multiprocessing.Process start + join, per start method."""
import json
import multiprocessing as mp
import os
import statistics
import time


def noop():
    pass


def measure(ctx, iters):
    t0 = time.perf_counter()
    for _ in range(iters):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    return (time.perf_counter() - t0) / iters * 1e6


def report(workload, impl, value):
    print(json.dumps({"workload": workload, "impl": impl, "value": value, "unit": "us",
                      "higher_is_better": False}), flush=True)


def main():
    default = mp.get_start_method()
    for label, pinned in (("process start + join", False), ("process start + join (pinned)", True)):
        if pinned:
            os.sched_setaffinity(0, {0})
        for method, iters in (("fork", 200), ("spawn", 20)):
            ctx = mp.get_context(method)
            v = statistics.median(measure(ctx, iters) for _ in range(3))
            name = f"python mp ({method}{', default' if method == default else ''})"
            report(label, name, v)


if __name__ == "__main__":
    main()
