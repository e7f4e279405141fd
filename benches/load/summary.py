#!/usr/bin/env python3
"""Renders a load benchmark's results.jsonl (scripts/bench-load) as Markdown:
one table per workload with every target, and each grantor figure's ratio to
node-oidc-provider's."""
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


if __name__ == "__main__":
    main(sys.argv[1])
