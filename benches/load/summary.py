#!/usr/bin/env python3
"""Renders a load benchmark's results.jsonl (scripts/bench-load) as Markdown:
one table per workload with every target, and each grantor figure's ratio to
node-oidc-provider's; with BENCH_STREAMS=1, each interleaved round's figures
without and with streams, and their ratios."""
import json
import sys
from collections import OrderedDict


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    runs = [r for r in rows if r["workload"] not in ("bulk-revoke", "storage")]
    bulk = [r for r in rows if r["workload"] == "bulk-revoke"]
    storage = [r for r in rows if r["workload"] == "storage"]
    by_workload = OrderedDict()
    for r in runs:
        by_workload.setdefault(r["workload"], []).append(r)
    print("| workload | target | label | requests/s | vs node | p50 ms | p99 ms | server CPU (cores) | CPU ms/request | peak RSS MiB | errors |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload, group in by_workload.items():
        node = next((r for r in group if r["target"].startswith("node-oidc-provider")), None)
        for r in group:
            ratio = ""
            if node and node is not r and node["throughput"] > 0:
                ratio = f'{r["throughput"] / node["throughput"]:.2f}×'
            note = " (tokens ran out)" if r.get("exhausted") else ""
            rss = r.get("peak_rss_mib")
            print(
                f'| {workload} | {r["target"]} | {r.get("label", "")} | {r["throughput"]:,.0f}{note} | {ratio} '
                f'| {r["p50_ms"]:.2f} | {r["p99_ms"]:.2f} | {r["server_cpu_cores"]:.2f} '
                f'| {r["cpu_ms_per_request"]:.3f} | {rss:.0f} | {r["errors"]} |'
                if rss is not None
                else f'| {workload} | {r["target"]} | {r.get("label", "")} | {r["throughput"]:,.0f}{note} | {ratio} '
                f'| {r["p50_ms"]:.2f} | {r["p99_ms"]:.2f} | | | | {r["errors"]} |'
            )
    stream_rounds(runs)
    if bulk:
        print()
        print("| bulk revocation (`DELETE /api/v2/users/{id}/refresh-tokens`) | label | tokens | latency ms | status |")
        print("| --- | --- | ---: | ---: | ---: |")
        for r in bulk:
            print(f'| {r["target"]} | {r.get("label", "")} | {r["tokens"]:,} | {r["latency_ms"]:.2f} | {r["status"]} |')
    if storage:
        print()
        print("| table sizes during | target | seconds | families | secrets | access tokens | sessions | logs | server RSS MiB |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in storage:
            z = r["sizes"]
            rss = r.get("rss_mib")
            print(
                f'| {r["during"]} at {r.get("rate") or "full"}/s | {r["target"]} | {r["seconds"]:.0f} '
                f'| {z["refresh_token_families"]:,} | {z["refresh_token_secrets"]:,} | {z["access_tokens"]:,} '
                f'| {z["sessions"]:,} | {z["logs"]:,} | {"" if rss is None else f"{rss:.0f}"} |'
            )


def stream_rounds(runs):
    """Pairs each "<target>+off" run with the "<target>+streams" run of the
    same round (scripts/bench-load runs them alternately, in either order)
    and prints their ratios."""
    pairs = OrderedDict()
    waiting = {}
    for r in runs:
        label = r.get("label", "")
        base, _, side = label.rpartition("+")
        if side not in ("off", "streams"):
            continue
        key = (base, r["workload"])
        other = waiting.get(key)
        if other is not None and other[0] != side:
            del waiting[key]
            off, on = (other[1], r) if side == "streams" else (r, other[1])
            pairs.setdefault(key, []).append((off, on))
        else:
            waiting[key] = (side, r)
    if not pairs:
        return
    print()
    print("| streams: workload | target | round | requests/s off → on | ratio | CPU ms/request off → on | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (base, workload), group in pairs.items():
        rates, cpus = [], []
        for n, (off, on) in enumerate(group, 1):
            if not off["throughput"] or not off["cpu_ms_per_request"]:
                continue
            rate = on["throughput"] / off["throughput"]
            cpu = on["cpu_ms_per_request"] / off["cpu_ms_per_request"]
            rates.append(rate)
            cpus.append(cpu)
            print(
                f'| {workload} | {base} | {n} | {off["throughput"]:,.0f} → {on["throughput"]:,.0f} | {rate:.3f} '
                f'| {off["cpu_ms_per_request"]:.3f} → {on["cpu_ms_per_request"]:.3f} | {cpu:.3f} |'
            )
        if not rates:
            continue
        print(
            f'| {workload} | {base} | mean | | {sum(rates) / len(rates):.3f} '
            f'(min {min(rates):.3f}, max {max(rates):.3f}) | | {sum(cpus) / len(cpus):.3f} |'
        )


if __name__ == "__main__":
    main(sys.argv[1])
