import Foundation
import SaneTensor

/// What `samples.json` (the folder `sane sample` writes) holds: enough to evaluate and
/// fine-tune the samples next to their prompts (`sane finetune --models`).
///
///     OUT/samples.json                     this manifest
///     OUT/sample-00.safetensors …          the kept samples, best first (PyTorch key names)
public struct SampleManifest: Codable, Sendable {
    public struct Prompt: Codable, Sendable {
        public var name: String
        /// The checkpoint file.
        public var path: String
        public var validationAccuracy: Double
        public var decodedValidationAccuracy: Double?

        public init(name: String, path: String, validationAccuracy: Double, decodedValidationAccuracy: Double?) {
            self.name = name; self.path = path
            self.validationAccuracy = validationAccuracy; self.decodedValidationAccuracy = decodedValidationAccuracy
        }
    }
    public struct Sample: Codable, Sendable {
        /// The sample's file, relative to the folder.
        public var file: String
        public var validationAccuracy: Double
        public var round: Int
        public var draw: Int

        public init(file: String, validationAccuracy: Double, round: Int, draw: Int) {
            self.file = file; self.validationAccuracy = validationAccuracy; self.round = round; self.draw = draw
        }
    }

    public var format = "sane-samples"
    public var version = 1
    public var run: String
    public var runZoo: Int
    public var network: ZooNetworkConfiguration
    public var dataset: String
    public var dataDirectory: String?
    public var validationSize: Int
    public var settings: SamplingSettings
    public var promptLatentRMS: Double?
    public var promptLatentSpread: Double?
    /// What the target's preprocessing was fitted on (`TargetPreprocessing.summary`); nil in
    /// files written before it was recorded.
    public var preprocessing: String?
    /// How `--bandwidth auto` chose (nil when a bandwidth was given).
    public var bandwidthSelection: BandwidthSelection?
    /// The haloed windows prompts were encoded and samples decoded with (nil in files written
    /// before it was recorded).
    public var halo: HaloWindows?
    /// The sampler that generated the samples (nil in files written before `--sampler`).
    public var sampler: SamplerVariant?
    /// How `--sampler auto` chose (nil when a sampler was given).
    public var samplerSelection: SamplerSelection?
    /// The prompts the KDE was fitted to (for kde30 the 30 anchors, not every zoo model scored).
    public var prompts: [Prompt]
    public var rounds: [SamplingRound]
    public var samples: [Sample]

    public init(run: String, runZoo: Int, network: ZooNetworkConfiguration, dataset: String, dataDirectory: String?,
                validationSize: Int, settings: SamplingSettings, promptLatentRMS: Double?, promptLatentSpread: Double?,
                bandwidthSelection: BandwidthSelection?, prompts: [Prompt], rounds: [SamplingRound], samples: [Sample]) {
        self.run = run; self.runZoo = runZoo; self.network = network; self.dataset = dataset
        self.dataDirectory = dataDirectory; self.validationSize = validationSize; self.settings = settings
        self.promptLatentRMS = promptLatentRMS; self.promptLatentSpread = promptLatentSpread
        self.bandwidthSelection = bandwidthSelection; self.prompts = prompts; self.rounds = rounds; self.samples = samples
    }

    /// The manifest's file in a samples folder.
    public static func url(folder: URL) -> URL { folder.appendingPathComponent("samples.json") }

    /// Writes `folder/samples.json` atomically.
    public func write(folder: URL) throws {
        try SaneJSON.write(self, to: SampleManifest.url(folder: folder))
    }

    /// Reads `folder/samples.json`; throws a one-line error when it is missing or not a manifest.
    public static func read(folder: URL) throws -> SampleManifest {
        let url = SampleManifest.url(folder: folder)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SaneError("\(folder.relativePath) has no samples.json", hint: "pass a folder written by `sane sample --out`")
        }
        do { return try SaneJSON.decoder().decode(SampleManifest.self, from: data) } catch {
            throw SaneError("\(url.path) is not a samples manifest: \(error)")
        }
    }
}
