#!/usr/bin/env python3
"""Runs every benchmark and prints one table: each ipckit figure beside the peers' figures
measured in the same run, and the ratio.

Usage: bench/run.py BUILD_DIR [FILTER]
Runs BUILD_DIR/bench/bench_* binaries and bench/py/*.py scripts (given BUILD_DIR as argv[1]).
Each prints JSON lines: {"workload", "impl", "value", "unit", "higher_is_better"}.
The ratio column is "how many times better ipckit is than this peer" (>1: ipckit wins).
"""
import json
import os
import subprocess
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))


def programs(build_dir):
    bench_dir = os.path.join(build_dir, "bench")
    out = []
    if os.path.isdir(bench_dir):
        for name in sorted(os.listdir(bench_dir)):
            path = os.path.join(bench_dir, name)
            if name.startswith("bench_") and os.access(path, os.X_OK) and os.path.isfile(path):
                out.append([path])
    py_dir = os.path.join(HERE, "py")
    for name in sorted(os.listdir(py_dir)):
        if name.endswith(".py") and not name.startswith("_"):
            out.append([sys.executable, os.path.join(py_dir, name), build_dir])
    return out


def run(cmd):
    rows = []
    print(f"# running {' '.join(os.path.basename(c) for c in cmd[:2])}", file=sys.stderr, flush=True)
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print(f"# {cmd} timed out", file=sys.stderr)
        return rows
    if res.returncode != 0:
        print(f"# {cmd} failed ({res.returncode}): {res.stderr.strip()[-500:]}", file=sys.stderr)
    for line in res.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"# bad line from {cmd}: {line}", file=sys.stderr)
    return rows


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = os.path.abspath(sys.argv[1])
    flt = sys.argv[2] if len(sys.argv) > 2 else ""
    workloads = OrderedDict()
    for cmd in programs(build_dir):
        # Match the program's own name (bench_queue, queue.py), not its directory: a checkout
        # under a path containing "queue" must not select everything.
        name = os.path.basename(cmd[1] if cmd[0] == sys.executable else cmd[0])
        if flt and flt not in name:
            continue
        for r in run(cmd):
            workloads.setdefault(r["workload"], []).append(r)
    lines = []
    header = f"{'workload':<52} {'impl':<26} {'value':>14} {'unit':<8} {'ipckit is':>10}"
    lines.append(header)
    lines.append("-" * len(header))
    for wl, rows in workloads.items():
        ours = [r for r in rows if r["impl"] == "ipckit"]
        mine = ours[0] if ours else None
        for r in ours + [r for r in rows if r["impl"] != "ipckit"]:
            ratio = ""
            if mine is not None and r is not mine and r["value"] > 0 and mine["value"] > 0:
                x = mine["value"] / r["value"] if r.get("higher_is_better") else r["value"] / mine["value"]
                ratio = f"{x:.2f}x"
            lines.append(f"{wl[:52]:<52} {r['impl'][:26]:<26} {fmt(r['value']):>14} {r['unit']:<8} {ratio:>10}")
        lines.append("")
    print("\n".join(lines))
    print("ratio = how many times better ipckit is than the peer on that line (>1 = faster), same run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
