import Foundation
import SaneAnalysis

/// One weight's spectrum in spectra.json (`sane analyze spectra`: OUT/spectra.json is a
/// `[CheckpointSpectra]`, OUT/spectra.md its table).
public struct LayerSpectrumRecord: Codable, Sendable {
    public var weightKey: String
    /// The weight viewed as [rows, rowLength] = [c_out, r].
    public var rows: Int
    public var rowLength: Int
    /// λ_max of WᵀW, its log10, and the power-law α of the eigenvalue tail (NaN without a fit).
    public var lambdaMax: Double
    public var logSpectralNorm: Double
    public var alpha: Double
    /// Eigenvalues of WᵀW, descending (min(c_out, r) of them).
    public var eigenvalues: [Double]
    /// Wall time of the eigenvalues and the fit.
    public var seconds: Double

    public init(_ weightKey: String, rows: Int, rowLength: Int, spectrum: LayerSpectrum, seconds: Double) {
        self.weightKey = weightKey
        self.rows = rows
        self.rowLength = rowLength
        lambdaMax = spectrum.eigenvalues.first ?? 0
        logSpectralNorm = spectrum.logSpectralNorm
        alpha = spectrum.powerLaw?.alpha ?? .nan
        eigenvalues = spectrum.eigenvalues
        self.seconds = seconds
    }
}

/// One checkpoint's layer spectra in spectra.json.
public struct CheckpointSpectra: Codable, Sendable {
    public var model: String
    public var epoch: Int
    public var split: String
    public var seconds: Double
    public var layers: [LayerSpectrumRecord]

    public init(model: String, epoch: Int, split: String, seconds: Double, layers: [LayerSpectrumRecord]) {
        self.model = model; self.epoch = epoch; self.split = split; self.seconds = seconds; self.layers = layers
    }
}
