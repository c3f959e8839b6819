#!/usr/bin/env python3
"""Markdown tables from sddb-bench-ann's JSON lines (the figures in bench/RESULTS.md).

usage: bench/ann/summarize.py bench/results/ann-fashion-mnist.jsonl
Best QPS = the highest median QPS over the ef values whose recall@10 >= 0.98; ratios against
hnswlib are medians of per-round ratios of each round's best.
"""
import json
import statistics
import sys

TARGET = 0.98


def key(p):
    return (p["index"], p["storage"])


def main(path):
    points = [json.loads(line) for line in open(path) if line.strip()]
    plain = [p for p in points if p["filter"] is None]
    names = []
    for p in points:
        if key(p) not in names:
            names.append(key(p))

    def best(name, threads, phase, rounds_key="qps_rounds"):
        eligible = [p for p in plain if key(p) == name and p["threads"] == threads
                    and p["phase"] == phase and p["recall"] >= TARGET]
        if not eligible:
            return None, None
        top = max(eligible, key=lambda p: p["qps"])
        rounds = len(top[rounds_key])
        per_round = [max(p[rounds_key][r] for p in eligible) for r in range(rounds)]
        return top, per_round

    ref = {t: best(("hnswlib", "f32"), t, "fresh") for t in (1, 2)}
    ref_cpu = best(("hnswlib", "f32"), 1, "fresh", "cpu_qps_rounds")[1]
    print("| index | storage | best QPS, 1 thread (ef, recall) | vs hnswlib | CPU-time ratio "
          "| best QPS, 2 threads | vs hnswlib | build s | vs hnswlib | bytes/vector |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    any_point = {key(p): p for p in plain if p["phase"] == "fresh"}
    for name in names:
        if name not in any_point:
            continue
        cells = []
        for t in (1, 2):
            top, per_round = best(name, t, "fresh")
            if top is None:
                cells += ["below 0.98 at every ef", ""]
                continue
            ef = "exact" if top["ef"] is None else f"ef {top['ef']}"
            cells.append(f"{top['qps']:,.0f} ({ef}, {top['recall']:.4f})")
            ref_top, ref_rounds = ref[t]
            if ref_top is None or name == ("hnswlib", "f32"):
                cells.append("")
            else:
                ratios = [a / b for a, b in zip(per_round, ref_rounds)]
                ratio = f"{statistics.median(ratios):.2f}×"
                cells.append(f"**{ratio}**" if name[0] == "sddb-hnsw" else ratio)
            if t == 1:
                cpu_rounds = best(name, 1, "fresh", "cpu_qps_rounds")[1]
                if ref_cpu is None or name == ("hnswlib", "f32") or cpu_rounds is None:
                    cells.append("")
                else:
                    cells.append(f"{statistics.median(a / b for a, b in zip(cpu_rounds, ref_cpu)):.2f}×")
        p = any_point[name]
        build_ratio = p["build_s"] / any_point[("hnswlib", "f32")]["build_s"] \
            if ("hnswlib", "f32") in any_point else float("nan")
        print(f"| {name[0]} | {name[1]} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} "
              f"| {cells[4]} | {p['build_s']:.1f} | {build_ratio:.2f}× "
              f"| {p['bytes_per_vector']:,.0f} |")

    print()
    print("Filtered (1 thread): recall@10 against the exact filtered top 10 / fewest results "
          "returned by any query / QPS")
    print()
    filtered = [p for p in points if p["filter"] is not None]
    efs = sorted({p["ef"] for p in filtered})
    sets = []
    for p in filtered:
        s = (p["filter"], p["filter_selectivity"])
        if s not in sets:
            sets.append(s)
    print("| index | storage | filter | " + " | ".join(f"ef {e}" for e in efs) + " |")
    print("|---|---|---|" + "---|" * len(efs))
    for name in names:
        for s in sets:
            row = {p["ef"]: p for p in filtered
                   if key(p) == name and (p["filter"], p["filter_selectivity"]) == s}
            if not row:
                continue
            mode = next(iter(row.values())).get("filter_mode", "")
            label = f"{s[0]} {s[1] * 100:g}%"
            cells = [f"{row[e]['recall']:.3f} / {row[e]['results_min']} / {row[e]['qps']:,.0f}"
                     if e in row else "" for e in efs]
            print(f"| {name[0]} ({mode}) | {name[1]} | {label} | " + " | ".join(cells) + " |")

    print()
    print("Churn (half the labels removed at random and added back; 1 thread)")
    print()
    print("| index | storage | recall ef 20 fresh → churned | best QPS ≥ 0.98 fresh → churned "
          "| bytes/vector fresh → churned | churn s |")
    print("|---|---|---|---|---|---|")
    for name in names:
        churn = [p for p in plain if key(p) == name and p["phase"] == "churn"]
        if not churn:
            continue
        fresh20 = next((p for p in plain if key(p) == name and p["phase"] == "fresh"
                        and p["threads"] == 1 and p["ef"] == 20), None)
        churn20 = next((p for p in churn if p["ef"] == 20), None)
        f_top, _ = best(name, 1, "fresh")
        c_top, _ = best(name, 1, "churn")
        fmt = lambda t: "below 0.98" if t is None else f"{t['qps']:,.0f} (ef {t['ef']})"
        c = churn[0]
        print(f"| {name[0]} | {name[1]} | "
              f"{fresh20['recall'] if fresh20 else float('nan'):.4f} → "
              f"{churn20['recall'] if churn20 else float('nan'):.4f} | {fmt(f_top)} → {fmt(c_top)} | "
              f"{c['fresh_bytes_per_vector']:,.0f} → {c['bytes_per_vector']:,.0f} "
              f"({(c['bytes_per_vector'] / c['fresh_bytes_per_vector'] - 1) * 100:+.1f}%) | "
              f"{c['churn_s']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
