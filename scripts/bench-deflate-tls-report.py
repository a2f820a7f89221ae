#!/usr/bin/env python3
"""Markdown summary of scripts/bench-deflate-tls.sh's results.csv: per scenario, the median of
each server's ok runs and the ratio of its median throughput to the baseline's.

Usage: bench-deflate-tls-report.py results.csv BASELINE ROUNDS DURATION
       JSON='{netload's JSON line}' bench-deflate-tls-report.py --row   (CSV fields for the runner)
"""
import csv
import json
import os
import statistics
import sys

ROW_KEYS = ["msgs_per_s", "mib_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "sent_wire_ratio",
            "echo_wire_ratio", "echoes_compressed", "echoes_uncompressed", "verified", "errors"]


def row():
    """Two lines: the CSV values of netload's JSON line; then client CPU % and the first error."""
    try:
        data = json.loads(os.environ.get("JSON", ""))
    except ValueError:
        data = {}
    print(",".join(str(data.get(key, "")) for key in ROW_KEYS))
    error = str(data.get("first_error", "")).replace(",", ";").replace('"', "'").replace("|", "/")
    print(f"{data.get('client_cpu_pct', '')}|{error}")

TITLES = {
    "deflate-1k": "compressed echo: 1 KiB JSON-like text, 100 conns × pipeline 16, permessage-deflate",
    "deflate-16k": "compressed echo: 16 KiB JSON-like text, 50 conns × pipeline 4, permessage-deflate",
    "tls-handshake": "TLS handshakes: 50 workers, connect + TLS + upgrade + close(1000), repeated",
    "tls-small": "TLS echo: 64 B random binary, 100 conns × pipeline 16 (no compression offered)",
    "tls-large": "TLS echo: 1 MiB random binary, 4 conns × pipeline 2 (no compression offered)",
}


def median(rows, key):
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.median(values) if values else None


def per_cpu_second(rows):
    """Median over runs of throughput per second of server CPU: on a shared machine a server that
    got less of its core shows it here rather than in its raw rate."""
    values = [float(r["msgs_per_s"]) / (float(r["server_cpu_pct"]) / 100) for r in rows
              if r.get("msgs_per_s") and r.get("server_cpu_pct") and float(r["server_cpu_pct"]) > 0]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def main():
    path, baseline, rounds, duration = sys.argv[1:5]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    loads = [float(r["loadavg"]) for r in rows if r["loadavg"]]
    print(f"# Holdfast beside Hummingbird and Python websockets: permessage-deflate and TLS\n")
    print(f"{rounds} interleaved rounds, {duration} s measured per run; servers on one core, netload on another.\n")
    for scenario in scenarios:
        runs = [r for r in rows if r["scenario"] == scenario]
        servers = list(dict.fromkeys(r["server"] for r in runs))
        medians = {}
        for server in servers:
            mine = [r for r in runs if r["server"] == server]
            ok = [r for r in mine if r["status"] == "ok"]
            medians[server] = (ok, mine)
        base_ok = medians.get(baseline, ([], []))[0]
        base = median(base_ok, "msgs_per_s")
        base_cpu = per_cpu_second(base_ok)
        handshake = scenario == "tls-handshake"
        print(f"### {scenario}: {TITLES.get(scenario, scenario)}\n")
        if handshake:
            print(f"| server | handshakes/s (median) | × {baseline} | per server CPU-second | × {baseline} | handshake p50 µs | p99 µs | server CPU % | client CPU % | peak RSS MiB | errors | runs ok |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        else:
            print(f"| server | msgs/s (median) | × {baseline} | per server CPU-second | × {baseline} | MiB/s | p50 µs | p99 µs | echo bytes / message byte | server CPU % | client CPU % | peak RSS MiB | errors | runs ok |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for server in servers:
            ok, mine = medians[server]
            rate = median(ok, "msgs_per_s")
            ratio = fmt(rate / base, 2) if rate is not None and base else "–"
            efficiency = per_cpu_second(ok)
            efficiency_ratio = fmt(efficiency / base_cpu, 2) if efficiency is not None and base_cpu else "–"
            errors = sum(int(float(r["errors"] or 0)) for r in mine)
            runs_ok = f"{len(ok)}/{len(mine)}" + ("" if len(ok) == len(mine) else " ⚠")
            common = [fmt(median(ok, "server_cpu_pct")), fmt(median(ok, "client_cpu_pct")),
                      fmt(median(ok, "peak_rss_mib"), 1), str(errors), runs_ok]
            if handshake:
                cells = [server, fmt(rate), ratio, fmt(efficiency), efficiency_ratio, fmt(median(ok, "lat_p50_us")), fmt(median(ok, "lat_p99_us"))] + common
            else:
                cells = [server, fmt(rate), ratio, fmt(efficiency), efficiency_ratio, fmt(median(ok, "mib_per_s"), 1), fmt(median(ok, "lat_p50_us")),
                         fmt(median(ok, "lat_p99_us")), fmt(median(ok, "echo_wire_ratio"), 3)] + common
            print("| " + " | ".join(cells) + " |")
        failed = [r for r in runs if r["status"] != "ok" and r["first_error"]]
        if failed:
            print(f"\nFirst error of a failed run ({failed[0]['server']}, round {failed[0]['round']}): {failed[0]['first_error']}")
        print()
    print("Medians over the runs with status ok. CPU % is the process's utime+stime over the whole netload run "
          "(connect, warm-up, measured window, drain; 100 = one core): server CPU near 100 means the server "
          "was the bottleneck. 'echo bytes / message byte' is the payload the server sent back on the wire "
          "per byte of message (below 1: it compressed). 'per server CPU-second' is each run's rate divided by "
          "its server CPU fraction (median over runs): what one fully used core would do at that efficiency, "
          "the fairer figure when the machine is shared and a server got only part of its core (CPU % well "
          "below 100 with the client also below 100).")
    if loads:
        print(f"1-minute load average seen during the runs: min {min(loads):.2f}, max {max(loads):.2f}.")


if __name__ == "__main__":
    if sys.argv[1:] == ["--row"]:
        row()
    else:
        main()
