// `import Sane` gives the whole pipeline and the layers below it.
@_exported import SaneTensor
@_exported import SaneNN
@_exported import SaneData
@_exported import SaneAnalysis

/// The toolkit's version (also `sane --version`).
public let saneVersion = "0.1.0"
