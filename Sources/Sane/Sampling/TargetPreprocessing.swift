import Foundation
import SaneData
import SaneTensor

// How the sampler preprocesses the target network's models (SANE-SPEC §7: prompts "possibly of a
// new architecture or task"; Schürholt et al., ICML 2024, §5 and Table 15).
//
// SANE's tokens are rows of values cut into d_t-sized chunks, so any architecture tokenizes with
// the run's tokenizer — each model with its own layout. What is per layer of the training zoo is
// the preprocessing: the standardization x̃ = (x − μ_l)/σ_l (statistics of the zoo's train split)
// and the alignment reference. For a target of another architecture (e.g. SANE trained on
// ResNet-18s, sampling ResNet-34s) both come from the prompts instead:
//
//   standardization   μ_l, σ_l fitted on the E prompts (LayerStandardization, same formula)
//   alignment         to the first prompt, with the target architecture's permutation spec
//
// and the prompts are encoded and the samples decoded at the target's full length with haloed
// windows. `--standardization prompts` does the same for the training architecture (a new task
// whose weights have other statistics).
//
// Positions: P_n = [n, l, k] index SANE's learned tables E_n, E_l, E_k, whose sizes were fixed at
// pretraining (maxTokens, maxLayers, maxRows). A target whose positions reach beyond a table has
// no embedding for them: that is an error naming the table, with the rule to size the tables at
// pretraining (rows the training zoo never reaches keep their initialization N(0, 0.02), as with
// the reference implementation's fixed max_positions [55000, 100, 550]). Positions inside the
// tables but beyond the training zoo's extent are used as they are, and reported.

/// The preprocessing of the sampler's target network: the run's (training architecture) or one
/// fitted on the prompts (new architecture, or on request).
public struct TargetPreprocessing: Sendable {
    /// Where the per-layer standardization comes from.
    public enum Standardization: String, Codable, CaseIterable, Sendable {
        /// `run` when the target is the training architecture, else `prompts`.
        case auto
        /// The training zoo's train split (only for the training architecture).
        case run
        /// Fitted on the prompts.
        case prompts
    }

    /// The preprocessing in effect (tokenizer always the run's).
    public let preprocessing: ZooPreprocessing
    /// Whether the target has the token layout of SANE's training zoo.
    public let isTrainingArchitecture: Bool
    /// The standardization in effect: `.run` or `.prompts` (never `.auto`).
    public let standardization: Standardization
    /// Tokens and layers of the target and of the training zoo's models.
    public let target: (tokens: Int, layers: Int)
    public let training: (tokens: Int, layers: Int)
    /// Positions of the target's tokens beyond the largest index the training zoo reaches (so never
    /// trained, at their initialization), one phrase per table; empty when none.
    public let untrainedPositions: [String]

    /// - Parameters:
    ///   - targetName: how messages name the target (e.g. "Resnet34").
    ///   - reference: a freshly initialized target model (keys, shapes, order of the samples).
    ///   - prompts: the prompts (models of the target); the preprocessing of a new architecture is
    ///     fitted on them.
    public init(encoder: SANEEncoder, zoo: Int, targetName: String, reference: StateDict, prompts: [StateDict],
                standardization requested: Standardization) throws {
        let run = encoder.preprocessing[zoo], config = encoder.model.config
        let tokenizer = run.tokenizer
        guard tokenizer.configuration.tokenSize == config.tokenSize else {
            throw SaneError("the run's tokenizer cuts rows into tokens of d_t = \(tokenizer.configuration.tokenSize) values, but SANE's input layer takes d_t = \(config.tokenSize)",
                            hint: "the run folder is inconsistent (manifest tokenizer vs model config); sample with the run folder `sane pretrain` wrote")
        }
        let targetLayout = try tokenizer.layout(for: reference)
        let trainingLayout = try tokenizer.layout(for: run.reference)
        isTrainingArchitecture = targetLayout == trainingLayout
        target = (targetLayout.tokenCount, targetLayout.layers.count)
        training = (trainingLayout.tokenCount, trainingLayout.layers.count)
        let trainingName = "SANE's training zoo (\(training.tokens) tokens, \(training.layers) layers)"

        // Positions against the tables (an error) and against the training zoo's extent (a note).
        let positions = targetLayout.positions()
        var largest = (n: Int32(0), l: Int32(0), k: Int32(0))
        for i in stride(from: 0, to: positions.count, by: 3) {
            largest = (max(largest.n, positions[i]), max(largest.l, positions[i + 1]), max(largest.k, positions[i + 2]))
        }
        let beyond = [("maxTokens", "token index", config.maxTokens, Int(largest.n)), ("maxLayers", "layer index", config.maxLayers, Int(largest.l)),
                      ("maxRows", "row index", config.maxRows, Int(largest.k))].filter { $0.3 >= $0.2 }
        if !beyond.isEmpty {
            let reach = beyond.map { "\($0.1) \($0.3) (\($0.0) = \($0.2))" }.joined(separator: ", ")
            let need = beyond.map { "\($0.0) ≥ \($0.3 + 1)" }.joined(separator: ", ")
            throw SaneError("the target \(targetName) (\(target.tokens) tokens, \(target.layers) layers) reaches beyond SANE's position tables: \(reach); positions past a table have no learned embedding",
                            hint: "pretrain with a config that sizes the tables for the target (\(need)); rows the training zoo never reaches keep their initialization, as the reference's max_positions")
        }
        let trainingPositions = trainingLayout.positions()
        var trained = (n: Int32(0), l: Int32(0), k: Int32(0))
        for i in stride(from: 0, to: trainingPositions.count, by: 3) {
            trained = (max(trained.n, trainingPositions[i]), max(trained.l, trainingPositions[i + 1]), max(trained.k, trainingPositions[i + 2]))
        }
        untrainedPositions = [("tokens", trained.n, largest.n), ("layers", trained.l, largest.l), ("rows", trained.k, largest.k)]
            .filter { $0.2 > $0.1 }.map { "\($0.0) \($0.1 + 1)–\($0.2)" }

        let resolved: Standardization = requested == .auto ? (isTrainingArchitecture ? .run : .prompts) : requested
        standardization = resolved
        if resolved == .run {
            guard isTrainingArchitecture else {
                throw SaneError("the target \(targetName) (\(target.tokens) tokens, \(target.layers) layers) is not the architecture of \(trainingName); the run's standardization is per layer of that architecture",
                                hint: "use --standardization prompts (or auto) to fit it on prompts of the target")
            }
            preprocessing = run
            return
        }
        guard !prompts.isEmpty else {
            throw SaneError(isTrainingArchitecture
                            ? "--standardization prompts fits the per-layer standardization on the prompts, but there are none"
                            : "the target \(targetName) (\(target.tokens) tokens, \(target.layers) layers) is not the architecture of \(trainingName): its per-layer standardization is fitted on prompts of it, and there are none",
                            hint: "pass --prompts with a few trained models of the target architecture")
        }
        for (i, prompt) in prompts.enumerated() {
            let layout = try tokenizer.layout(for: prompt)
            guard layout == targetLayout else {
                throw SaneError("prompt \(i + 1) (\(layout.tokenCount) tokens, \(layout.layers.count) layers) is not a model of the target \(targetName) (\(target.tokens) tokens, \(target.layers) layers)",
                                hint: "all prompts must be models of one architecture, the target's")
            }
        }
        var prep = run
        if run.standardization != nil {
            prep.standardization = try LayerStandardization(fittingTo: prompts, tokenizer: tokenizer)
        } else if requested == .prompts {
            throw SaneError("--standardization prompts: the run does not standardize its tokens (normalization \(encoder.manifest.config.normalization.rawValue)), so there is nothing to fit",
                            hint: "leave out --standardization")
        }
        if !isTrainingArchitecture {
            prep.reference = prompts[0]
            prep.spec = run.align ? try PermutationSpec(modelType: targetName, reference: prompts[0]) : PermutationSpec(groups: [])
        }
        preprocessing = prep
    }

    /// One line for the command's output: what was fitted on what.
    public func summary(targetName: String, prompts: Int) -> String {
        if standardization == .run { return "target \(targetName) is SANE's training architecture: standardization and alignment of the run's zoo" }
        let what = isTrainingArchitecture
            ? "target \(targetName) is SANE's training architecture; per-layer standardization fitted on the \(prompts) prompt(s) (--standardization prompts)"
            : "new architecture: target \(targetName) (\(target.tokens) tokens, \(target.layers) layers) vs SANE's training zoo (\(training.tokens) tokens, \(training.layers) layers); per-layer standardization fitted on the \(prompts) prompt(s)"
                + (preprocessing.align ? ", prompts aligned to the first prompt" : "")
        return what + (untrainedPositions.isEmpty ? "" : "; positions never trained (initialization): \(untrainedPositions.joined(separator: ", "))")
    }
}
