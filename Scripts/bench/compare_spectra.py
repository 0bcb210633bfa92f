# Compares two spectra.json files of `sane analyze --zoo Z` (no --model), e.g. before and after a
# change of the eigenvalue solver: per layer the relative difference of λ_max, of every eigenvalue
# (relative to that layer's λ_max) and the absolute difference of α; and the eigenvalue seconds.
# Usage:  python3 Scripts/bench/compare_spectra.py OLD/spectra.json NEW/spectra.json
import json, math, sys

old, new = (json.load(open(p)) for p in sys.argv[1:3])
assert [(c["model"], c["epoch"]) for c in old] == [(c["model"], c["epoch"]) for c in new], "different checkpoints"
lam = eig = alpha = 0.0
alpha_changed = []
for co, cn in zip(old, new):
    for lo, ln in zip(co["layers"], cn["layers"]):
        assert lo["weightKey"] == ln["weightKey"]
        lam = max(lam, abs(lo["lambdaMax"] - ln["lambdaMax"]) / lo["lambdaMax"])
        eig = max(eig, max(abs(a - b) for a, b in zip(lo["eigenvalues"], ln["eigenvalues"])) / lo["lambdaMax"])
        ao, an = (float(x) for x in (lo["alpha"], ln["alpha"]))
        if not (math.isnan(ao) and math.isnan(an)):
            d = abs(ao - an)
            alpha = max(alpha, d)
            if d > 1e-6: alpha_changed.append((co["model"], co["epoch"], lo["weightKey"], ao, an))
layers = sum(len(c["layers"]) for c in old)
print(f"{len(old)} checkpoints, {layers} layers")
print(f"max |Δλ_max|/λ_max {lam:.3g}; max |Δλ_i|/λ_max {eig:.3g}; max |Δα| {alpha:.3g}")
print(f"eigenvalue seconds: old {sum(c['seconds'] for c in old):.3f}, new {sum(c['seconds'] for c in new):.3f}")
for row in alpha_changed[:10]: print("α changed:", row)
