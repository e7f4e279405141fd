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
    """Groups the "<target>+off", "<target>+streams" (slow receiver) and
    "<target>+fast" (receiver answering at once) runs into rounds
    (scripts/bench-load runs one of each per round, in a rotating order) and
    prints each round's ratios: streams / off is what the streams cost,
    streams / fast what the receiver's slowness costs."""
    sides = ("off", "streams", "fast")
    rounds = OrderedDict()
    current = {}
    for r in runs:
        base, _, side = r.get("label", "").rpartition("+")
        if side not in sides:
            continue
        key = (base, r["workload"])
        now = current.setdefault(key, {})
        if side in now:
            rounds.setdefault(key, []).append(now)
            now = current[key] = {}
        now[side] = r
    for key, now in current.items():
        rounds.setdefault(key, []).append(now)
    rounds = {k: [g for g in v if "off" in g and "streams" in g] for k, v in rounds.items()}
    rounds = {k: v for k, v in rounds.items() if v}
    if not rounds:
        return
    fast = any("fast" in g for v in rounds.values() for g in v)

    def rate(g, a, b):
        x, y = g.get(a), g.get(b)
        if not x or not y or not y["throughput"]:
            return None
        return x["throughput"] / y["throughput"]

    def fmt(v):
        return "" if v is None else f"{v:.3f}"

    print()
    head = "| streams: workload | target | round | requests/s off → streams"
    head += " → fast |" if fast else " |"
    head += " streams / off |"
    if fast:
        head += " fast / off | streams / fast |"
    head += " CPU ms/request off → streams" + (" → fast |" if fast else " |")
    print(head)
    print("| --- | --- | ---: | ---: | ---: |" + (" ---: | ---: |" if fast else "") + " ---: |")
    for (base, workload), group in rounds.items():
        ratios = {"streams/off": [], "fast/off": [], "streams/fast": []}
        cpu = []
        for n, g in enumerate(group, 1):
            arms = [g[s] for s in sides if s in g and (s != "fast" or fast)]
            rs = {
                "streams/off": rate(g, "streams", "off"),
                "fast/off": rate(g, "fast", "off"),
                "streams/fast": rate(g, "streams", "fast"),
            }
            for k, v in rs.items():
                if v is not None:
                    ratios[k].append(v)
            if g["off"]["cpu_ms_per_request"]:
                cpu.append(g["streams"]["cpu_ms_per_request"] / g["off"]["cpu_ms_per_request"])
            line = f'| {workload} | {base} | {n} | ' + " → ".join(f'{a["throughput"]:,.0f}' for a in arms)
            line += f' | {fmt(rs["streams/off"])} |'
            if fast:
                line += f' {fmt(rs["fast/off"])} | {fmt(rs["streams/fast"])} |'
            line += " " + " → ".join(f'{a["cpu_ms_per_request"]:.3f}' for a in arms) + " |"
            print(line)

        def mean(k):
            v = ratios[k]
            return f"{sum(v) / len(v):.3f} (min {min(v):.3f}, max {max(v):.3f})" if v else ""

        line = f'| {workload} | {base} | mean | | {mean("streams/off")} |'
        if fast:
            line += f' {mean("fast/off")} | {mean("streams/fast")} |'
        cpu_mean = f"streams / off {sum(cpu) / len(cpu):.3f}" if cpu else ""
        print(line + f" {cpu_mean} |")


if __name__ == "__main__":
    main(sys.argv[1])
