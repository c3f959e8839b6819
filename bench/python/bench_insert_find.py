#!/usr/bin/env python3
"""The Python layer's overhead: 100k small documents inserted and found through the Python
package and through the C++ API (sddb-bench-python-ref), in the same run, alternating.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/bench_insert_find.py \\
        --ref build/bench/python/sddb-bench-python-ref

Each repetition opens a fresh SQLite database in a temporary folder, inserts N documents
{"i", "name", "score", "tag"} with insert_many in batches, iterates all of them (find()) and the
half with tag "a" (find({"tag": "a"})). The documents are built before the clock starts on both
sides. Prints the median seconds of each side and the ratio Python / C++.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import sddb
from sddb import Collection


def python_run(path, n, batch):
    db = sddb.superduper(f"sqlite://{path}/data.db")
    docs = Collection("docs")
    batches = [[{"i": i, "name": f"document {i}", "score": i * 0.5,
                 "tag": "a" if i % 2 == 0 else "b"}
                for i in range(start, min(n, start + batch))]
               for start in range(0, n, batch)]

    t = time.perf_counter()
    for b in batches:
        db.execute(docs.insert_many(b))
    insert_s = time.perf_counter() - t

    t = time.perf_counter()
    seen = sum(1 for d in db.execute(docs.find()) if "i" in d)
    find_all_s = time.perf_counter() - t

    t = time.perf_counter()
    tagged = sum(1 for d in db.execute(docs.find({"tag": "a"})) if "i" in d)
    find_filter_s = time.perf_counter() - t

    assert seen == n and tagged == (n + 1) // 2, (seen, tagged)
    return {"insert_s": insert_s, "find_all_s": find_all_s, "find_filter_s": find_filter_s}


def cpp_run(ref, path, n, batch):
    out = subprocess.run([ref, str(path), str(n), str(batch)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", required=True, help="the sddb-bench-python-ref executable")
    ap.add_argument("-n", type=int, default=100_000, help="documents (default 100000)")
    ap.add_argument("--batch", type=int, default=1000, help="documents per insert_many")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of each side")
    args = ap.parse_args()

    runs = {"python": [], "cpp": []}
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory() as p:
            runs["cpp"].append(cpp_run(args.ref, p, args.n, args.batch))
        with tempfile.TemporaryDirectory() as p:
            runs["python"].append(python_run(p, args.n, args.batch))

    print(f"# {args.n} documents, insert_many batches of {args.batch}, "
          f"median of {args.reps} alternating runs")
    print(f"{'operation':<14} {'C++ s':>9} {'Python s':>9} {'ratio':>7}")
    result = {"n": args.n, "batch": args.batch, "reps": args.reps}
    for key in ("insert_s", "find_all_s", "find_filter_s"):
        c = statistics.median(r[key] for r in runs["cpp"])
        p = statistics.median(r[key] for r in runs["python"])
        name = key[:-2]
        print(f"{name:<14} {c:>9.3f} {p:>9.3f} {p / c:>6.2f}x")
        result[name] = {"cpp_s": round(c, 4), "python_s": round(p, 4), "ratio": round(p / c, 3)}
    ops = ("insert", "find_all", "find_filter")
    total_c = sum(result[k]["cpp_s"] for k in ops)
    total_p = sum(result[k]["python_s"] for k in ops)
    print(f"{'all':<14} {total_c:>9.3f} {total_p:>9.3f} {total_p / total_c:>6.2f}x")
    print(json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main()
