// SaneAnalysis: float64 analysis tools that sit beside the model code.
//
//   Matrix64.swift          dense float64 matrix: products; Gram (BLAS), Cholesky solve and eigenvalues (LAPACK)
//   RidgeProbe.swift        linear probe (ridge with intercept, λ sweep on validation) — SANE-SPEC §6
//   WeightStatistics.swift  the s(W) baseline features — SANE-SPEC §6
//   Spectral.swift          WeightWatcher-style spectra, power-law α, Pearson/Spearman — SANE-SPEC §8
//   SVGPlot.swift           scatter and line plots as SVG
//   Table.swift             Markdown and plain-text tables, mean ± std formatting
