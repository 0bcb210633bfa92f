# Max absolute difference over every number of two JSON files of the same structure (e.g. probe.json
# before and after a solver change); lists the five largest with their paths.
# Usage:  python3 Scripts/bench/compare_json_numbers.py OLD.json NEW.json
import json, math, sys

diffs = []
def walk(a, b, path):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a: walk(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)): walk(x, y, f"{path}[{i}]")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        if not (math.isnan(a) and math.isnan(b)): diffs.append((abs(a - b), path, a, b))
    elif a != b and not any(t in path for t in ("seconds", "time", "date")):
        diffs.append((math.inf, path, a, b))
walk(*(json.load(open(p)) for p in sys.argv[1:3]), "")
diffs.sort(reverse=True)
print(f"{len(diffs)} values; max |Δ| {diffs[0][0]:.3g}" if diffs else "no values")
for d in diffs[:5]: print(" ", d)
