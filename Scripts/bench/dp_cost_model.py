#!/usr/bin/env python3
"""Data-parallel cost model for BENCHMARKS.md ("Data parallelism over MPI").

Per step every rank all-reduces its gradients, 4 bytes per parameter, in one buffer. A ring
allreduce sends and receives 2(N-1)/N * bytes per rank, in 2(N-1) messages:

    T_allreduce(N) = 2(N-1)/N * bytes / W  +  2(N-1) * latency

With a fixed per-rank batch (weak scaling) the compute time per step T_c stays constant and,
without overlap, efficiency = k*T_c / (k*T_c + T_allreduce) when k micro-batches are accumulated
per allreduce. The smallest k with efficiency >= 90 % is printed too.

Usage: python3 Scripts/bench/dp_cost_model.py PARAMS:SECONDS_PER_STEP:NAME ... [--latency-us 5]
"""
import argparse
import math

p = argparse.ArgumentParser()
p.add_argument("models", nargs="+", help="parameters:seconds_per_step:name")
p.add_argument("--latency-us", type=float, default=5.0, help="per-message latency (s = 1e-6 us)")
a = p.parse_args()

print("| model | MB per allreduce | compute s/step (per rank) | network | N=8 | N=64 | N=512 | k for ≥90 % at N=512 |")
print("|---|---|---|---|---|---|---|---|")
for spec in a.models:
    params, seconds, name = spec.split(":")
    nbytes, tc = 4 * int(params), float(seconds)
    for gbit in (25, 100, 400):
        w = gbit / 8 * 1e9
        eff = []
        for n in (8, 64, 512):
            t = 2 * (n - 1) / n * nbytes / w + 2 * (n - 1) * a.latency_us * 1e-6
            eff.append(tc / (tc + t))
        t512 = 2 * 511 / 512 * nbytes / w + 2 * 511 * a.latency_us * 1e-6
        k = max(1, math.ceil(9 * t512 / tc))
        print(f"| {name} | {nbytes / 1e6:.1f} | {tc:.3f} | {gbit} Gb/s | " + " | ".join(f"{100 * e:.1f} %" for e in eff) + f" | {k} |")
