#!/usr/bin/env python3
"""Merges JSON lines from tandem-bench, peers.py, mxnet_peer and torch_peer into tables with ratios.

    report.py RESULTS.jsonl [MORE.jsonl ...] [--markdown] [--baseline tandem] [--no-notes]

One table per (device, batch size); inside it rows are grouped by (model, threads); within a group
each engine (and math mode) gets one line, and every non-baseline line shows baseline / peer for
images/s (> 1: tandem serves more) and for p50 latency (< 1: tandem answers sooner). When a file
holds several runs of the same configuration (run_cpu.sh --repeat), the run with the median
images/s is shown and the number of runs is given. Below the tables, the engine notes: each peer's
settings as it reported them (versions, threads, flags, the environment MXNet ran with).
"""
import argparse
import json
import sys
from collections import defaultdict


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"report.py: {path}:{n}: not JSON: {e}")
    return rows


def median_runs(rows):
    """(model, device, batch, threads, engine, math) -> (median row by images/s, run count)."""
    runs = defaultdict(list)
    for r in rows:
        engine = r["engine"]
        if r.get("variant") not in (None, "eager"):
            engine += "+" + r["variant"]  # libtorch+graph: the CUDA-graph variant
        key = (r["model"], r["device"], r["batch"], r["threads"], engine, r.get("math", "fp32"))
        runs[key].append(r)
    out = {}
    for key, rs in runs.items():
        rs.sort(key=lambda r: r["images_per_s"])
        out[key] = (rs[(len(rs) - 1) // 2], len(rs))
    return out


def engine_order(engine, baseline):
    order = [baseline, baseline + "+graph", "onnxruntime", "openvino", "mxnet", "libtorch",
             "libtorch+graph"]
    return order.index(engine) if engine in order else len(order)


def table(rows, baseline):
    """(header, {(device, batch): lines}): one table per device and batch size."""
    chosen = median_runs(rows)
    groups = defaultdict(list)
    for (model, device, batch, threads, engine, math), (row, n) in chosen.items():
        groups[(device, batch, model, threads)].append((engine, math, row, n))
    header = ["model", "device", "batch", "threads", "engine", "math", "images/s", "p50 ms",
              "p99 ms", "RSS MiB", "load", "runs", "tandem/peer images/s", "tandem/peer p50"]
    tables = defaultdict(list)
    for key in sorted(groups):
        device, batch, model, threads = key
        entries = sorted(groups[key], key=lambda e: (engine_order(e[0], baseline), e[1]))
        for engine, math, row, n in entries:
            # The peer is compared with tandem's best row (CUDA graphs or not) of the same math
            # mode: strict fp32 with strict fp32, TF32 with TF32.
            ours = [e[2] for e in entries if e[0].split("+")[0] == baseline and e[1] == math]
            base = max(ours, key=lambda r: r["images_per_s"]) if ours else None
            ratio_ips = ratio_p50 = ""
            if base is not None and engine.split("+")[0] != baseline:
                ratio_ips = f"{base['images_per_s'] / row['images_per_s']:.2f}"
                ratio_p50 = f"{base['p50_ms'] / row['p50_ms']:.2f}"
            tables[(device, batch)].append(
                [model, device, str(batch), str(threads), engine, math,
                 f"{row['images_per_s']:.2f}", f"{row['p50_ms']:.2f}",
                 f"{row['p99_ms']:.2f}", f"{row.get('rss_mb', 0):.0f}",
                 f"{row['loadavg']:.1f}" if "loadavg" in row else "", str(n),
                 ratio_ips, ratio_p50])
    return header, tables


def engine_notes(rows, baseline):
    """One line per distinct (engine, settings) the peers reported, in engine order."""
    seen = {}
    for r in rows:
        if r.get("settings") and (r["engine"], r["settings"]) not in seen:
            seen[(r["engine"], r["settings"])] = r
    keys = sorted(seen, key=lambda k: (engine_order(k[0], baseline), k[1]))
    return [f"{engine}: {settings}" for engine, settings in keys]


def render(header, lines, markdown):
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(l) + " |" for l in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    out, previous = [fmt(header)], None
    for l in lines:
        if previous is not None and (l[0], l[3]) != previous:
            out.append("")  # a blank line between (model, threads) groups
        out.append(fmt(l))
        previous = (l[0], l[3])
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--baseline", default="tandem")
    ap.add_argument("--no-notes", action="store_true", help="leave out the engine notes")
    args = ap.parse_args()
    rows = load(args.files)
    header, tables = table(rows, args.baseline)
    if not tables:
        sys.exit("report.py: no rows")
    for n, (device, batch) in enumerate(sorted(tables)):
        title = f"batch {batch} ({device})"
        print(("\n" if n else "") + (f"**{title}**\n" if args.markdown else f"-- {title}"))
        print(render(header, tables[(device, batch)], args.markdown))
    print(f"\n{args.baseline}/peer images/s > 1: {args.baseline} serves more images per second; "
          f"{args.baseline}/peer p50 < 1: {args.baseline} answers sooner. RSS of Python peers "
          "includes the interpreter; load = 1-minute load average at the end of the run (the "
          "number of runnable processes: above the core count, others competed for the CPUs).")
    notes = [] if args.no_notes else engine_notes(rows, args.baseline)
    if notes:
        print("\nengine notes:")
        for line in notes:
            print(("- " if args.markdown else "  ") + line)


if __name__ == "__main__":
    main()
