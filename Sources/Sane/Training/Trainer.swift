import Foundation
import SaneData
import SaneNN
import SaneTensor

/// Metrics of one epoch, one line of `train_log.jsonl`.
public struct EpochLog: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double, trainReconstruction: Double, trainContrastive: Double
    public var validationLoss: Double, validationReconstruction: Double, validationContrastive: Double
    /// Reconstruction of clean (un-noised) full sequences: masked MSE and R². The train-split
    /// values are absent in logs written before they were added.
    public var trainSequenceMSE: Double?, trainSequenceR2: Double?
    public var validationSequenceMSE: Double, validationSequenceR2: Double
    /// Test-split values: only in logs written before the epoch logs were restricted to train and
    /// validation data (choices are made on validation; the test reconstruction is computed once,
    /// after training, by `SANETrainer.testReconstruction()`).
    public var testSequenceMSE: Double?, testSequenceR2: Double?
    public var learningRate: Double
    public var seconds: Double
    public var tokensPerSecond: Double
}

/// Resumable state of a run besides the weights (JSON, next to the safetensors files).
struct TrainerState: Codable {
    var completedEpochs: Int
    var step: Int
    var generator: [UInt64]
    var log: [EpochLog]
}

/// Trains the SANE autoencoder (SANE-SPEC §5): two augmented views per window, γ·NT-Xent +
/// (1−γ)·masked reconstruction, AdamW with a one-cycle schedule stepped per batch. Each epoch it
/// logs train/validation losses and writes a checkpoint (model, optimizer, generator, log)
/// atomically, so a killed run resumes exactly where the last epoch ended.
///
/// With a communicator of several ranks (`mpirun -n N sane pretrain`) training is data-parallel
/// (DataParallel.swift): each rank computes its rows of every global batch, the gradients are
/// summed in one allreduce, every rank takes the same AdamW step and rank 0 alone writes files.
/// The state does not depend on the number of ranks, so a run resumes with any number of them.
public final class SANETrainer {
    public let run: RunFolder
    public let config: SANEConfig
    public let model: SANEModel
    public let data: WeightSpaceData
    let optimizer: AdamW
    let schedule: OneCycleSchedule
    public let communicator: Communicator
    /// The model's flat parameters, whose gradient buffer is allreduced (data-parallel runs only).
    let gradients: FlatParameters?
    var state: TrainerState
    public var log: [EpochLog] { state.log }
    /// Called after every batch: (epoch, batch, batches, loss) — for progress bars.
    public var onBatch: ((Int, Int, Int, Float) -> Void)?
    public var onEpoch: ((EpochLog) -> Void)?

    /// Batches of a full epoch (`WindowPlan`); with `onePerModelPerBatch` an epoch may need a few
    /// more, which the one-cycle schedule treats as steps past its end (final learning rate).
    public var batchesPerEpoch: Int {
        (WindowPlan.windowsPerEpoch(data.train, config: config) + config.batchSize - 1) / config.batchSize
    }

    /// Creates a trainer; resumes from `run` when it holds a checkpoint of the same configuration.
    public init(run: RunFolder, config: SANEConfig, data: WeightSpaceData, communicator: Communicator = SingleProcess()) throws {
        guard !data.train.isEmpty else { throw SaneError("no training checkpoints", hint: "check the zoo path and --epochs") }
        try config.validate()
        try config.validatePositions(of: data.layouts)
        self.run = run
        self.config = config
        self.data = data
        self.communicator = communicator
        var g = SeededGenerator(seed: config.seed)
        model = SANEModel(config: config, using: &g)
        optimizer = AdamW(parameters: model.namedParameters(), learningRate: Double(config.learningRate),
                          weightDecay: Double(config.weightDecay))
        gradients = communicator.size > 1 ? model.flatParameters() : nil
        let perEpoch = (WindowPlan.windowsPerEpoch(data.train, config: config) + config.batchSize - 1) / config.batchSize
        schedule = OneCycleSchedule(maxLearningRate: Double(config.learningRate), totalSteps: max(1, perEpoch * config.epochs))
        state = TrainerState(completedEpochs: 0, step: 0, generator: g.fork().stateWords, log: [])
        if let saved = try run.loadTrainingState() {
            try model.load(saved.model)
            try optimizer.load(saved.optimizer)
            state = saved.state
        }
        divergence = DivergenceGuard(subject: "SANE training", learningRate: Double(config.learningRate), floor: 1,
                                     epochLosses: state.log.map(\.trainLoss))
    }

    /// Stops the run when the loss explodes or a state turns non-finite (see `DivergenceGuard`).
    var divergence: DivergenceGuard

    /// Also keep the checkpoint of every epoch divisible by this (nil: only the latest), e.g. to
    /// choose a checkpoint by validation probe R² afterwards (`sane probe --run-epoch`).
    public var keepEvery: Int?

    /// Trains until `config.epochs` epochs (or `until`, if smaller) are complete.
    public func train(until: Int? = nil) throws {
        if communicator.isRoot { try run.tidy(state: state, keepEvery: keepEvery) }   // completes a commit a killed process left unfinished
        while state.completedEpochs < min(config.epochs, until ?? config.epochs) {
            let log = try trainEpoch()
            let (weights, moments) = (model.stateDict(), optimizer.stateDict())
            try divergence.checkFinite([("the model's", weights), ("the optimizer state's", moments)], epoch: log.epoch)
            divergence.finished(epochLoss: log.trainLoss)
            state.log.append(log)
            state.completedEpochs += 1
            try checkReplicasAgree()
            guard communicator.isRoot else { continue }
            try run.saveTrainingState(model: weights, optimizer: moments, state: state, keepEvery: keepEvery)
            onEpoch?(log)
        }
    }

    func trainEpoch() throws -> EpochLog {
        let start = Date()
        var g = SeededGenerator(stateWords: state.generator)
        model.train(true)
        let plan = WindowPlan.epoch(data.train, config: config, using: &g)
        var sums = (total: 0.0, recon: 0.0, contrast: 0.0), batches = 0, lr = 0.0, windows = 0
        let count = plan.count
        for (b, planned) in plan.enumerated() {
            let batch = makeBatch(planned.map { (data.train[$0.sample], $0.start) }, using: &g)
            windows += planned.count
            let (rate, beta1) = schedule(min(state.step, schedule.totalSteps - 1))
            optimizer.learningRate = rate; optimizer.beta1 = beta1; lr = rate
            let losses = gradients == nil ? model.losses(batch) : model.dataParallelLosses(batch, over: communicator)
            model.zeroGradients()
            if losses.total.requiresGrad { losses.total.backward() }
            gradients?.allreduceGradients(over: communicator)
            optimizer.step()
            state.step += 1
            let total = Double(losses.value)
            try divergence.check(loss: total, epoch: state.completedEpochs + 1, batch: b + 1)
            sums.total += total; sums.recon += Double(losses.reconstruction); sums.contrast += Double(losses.contrastive)
            batches += 1
            onBatch?(state.completedEpochs + 1, b + 1, count, losses.value)
        }
        state.generator = g.stateWords
        let seconds = Date().timeIntervalSince(start)
        let val = validationLosses()
        let trainSeq = SequenceReconstruction.evaluate(model: model, store: data.store, samples: data.train)
        let valSeq = SequenceReconstruction.evaluate(model: model, store: data.store, samples: data.validation)
        let n = Double(max(batches, 1))
        return EpochLog(epoch: state.completedEpochs + 1,
                        trainLoss: sums.total / n, trainReconstruction: sums.recon / n, trainContrastive: sums.contrast / n,
                        validationLoss: val.total, validationReconstruction: val.recon, validationContrastive: val.contrast,
                        trainSequenceMSE: trainSeq.mse, trainSequenceR2: trainSeq.r2, validationSequenceMSE: valSeq.mse, validationSequenceR2: valSeq.r2,
                        testSequenceMSE: nil, testSequenceR2: nil,
                        learningRate: lr, seconds: seconds,
                        tokensPerSecond: Double(windows * 2 * config.windowSize) / max(seconds, 1e-9))
    }

    /// Every rank must hold the same weights after the same steps (same summed gradients, same
    /// AdamW); a checksum compared once per epoch catches a diverged replica.
    func checkReplicasAgree() throws {
        guard communicator.size > 1 else { return }
        let mine = model.parameterChecksum()
        var high = mine, low = mine
        communicator.allreduce(&high, .max)
        communicator.allreduce(&low, .min)
        guard high == low else {
            throw SaneError("data-parallel replicas disagree after epoch \(state.completedEpochs) (parameter sums \(low[0]) … \(high[0]))",
                            hint: "the ranks must run the same sane build on identical data")
        }
    }

    /// Reconstruction of the clean test sequences by the current model: for the final report,
    /// once, after training (the epoch logs hold train and validation data only).
    public func testReconstruction() -> (mse: Double, r2: Double) {
        SequenceReconstruction.evaluate(model: model, store: data.store, samples: data.test)
    }

    /// Losses on validation windows; the same windows and noise every epoch (fixed seed).
    func validationLosses() -> (total: Double, recon: Double, contrast: Double) {
        guard data.validation.count >= 2 else { return (.nan, .nan, .nan) }
        var g = SeededGenerator(seed: config.seed ^ 0x5EED_0F_0A1)
        var sums = (0.0, 0.0, 0.0), n = 0.0
        Variable.withoutGradients {
            for start in stride(from: 0, to: data.validation.count, by: config.batchSize) {
                let items = data.validation[start..<min(start + config.batchSize, data.validation.count)].map { ($0, Int?.none) }
                if items.count < 2 { continue }
                let l = model.losses(makeBatch(items, using: &g))
                let w = Double(items.count)
                sums.0 += Double(l.total.value.scalar) * w; sums.1 += Double(l.reconstruction) * w; sums.2 += Double(l.contrastive) * w
                n += w
            }
        }
        return (sums.0 / n, sums.1 / n, sums.2 / n)
    }

    /// Two augmented views of a window of each sample (SANE-SPEC §3): view 1 the aligned model,
    /// view 2 one of its stored random permutations (applied to the window on the fly), the same
    /// window of both; multiplicative noise on each; then, with `erasingProbability`, a random
    /// block of each view's input erased (the target keeps it). A window's start is the planned
    /// one or drawn uniformly from 0…N−ws.
    func makeBatch(_ items: [(sample: WeightSample, start: Int?)], using g: inout SeededGenerator) -> ViewBatch {
        let ws = config.windowSize, store = data.store
        var views1: [TokenSequence] = [], views2: [TokenSequence] = []
        var keys: [Float] = []                                          // (B, ws): 1 on real tokens
        for (item, planned) in items {
            let n = item.tokens
            let start = planned ?? (n > ws ? g.int(below: n - ws + 1) : 0)
            let second = store.permutationsPerModel == 0 ? nil : g.int(below: store.permutationsPerModel)
            views1.append(store.window(item, start: start, length: ws).addingMultiplicativeNoise(sigma: config.noiseStd, using: &g))
            views2.append(store.window(item, start: start, length: ws, permutation: second).addingMultiplicativeNoise(sigma: config.noiseStd, using: &g))
            let real = min(ws, n - start)
            keys += (0..<ws).map { $0 < real ? 1 : 0 }
        }
        let keyMask = keys.contains(0) ? Tensor(shape: [items.count, ws], scalars: keys) : nil
        var batch = ViewBatch(tokens1: Tensor.stacked(views1.map(\.tokens)), tokens2: Tensor.stacked(views2.map(\.tokens)),
                              mask1: Tensor.stacked(views1.map(\.mask)), mask2: Tensor.stacked(views2.map(\.mask)),
                              positions1: views1.flatMap(\.positions), positions2: views2.flatMap(\.positions),
                              keyMask1: keyMask, keyMask2: keyMask)
        if config.erasingProbability > 0 {
            let erasing = RandomErasing(probability: config.erasingProbability)
            func erased(_ views: [TokenSequence]) -> Tensor {
                Tensor.stacked(views.map { v in erasing.block(rows: ws, columns: v.tokenSize, using: &g).map { v.erasing($0) }?.tokens ?? v.tokens })
            }
            batch.inputs1 = erased(views1)
            batch.inputs2 = erased(views2)
        }
        return batch
    }
}

/// Reconstruction quality of clean full sequences: each sequence is cut into consecutive windows
/// of the training window size, encoded and decoded; masked MSE and
/// R² = 1 − Σ m(ŷ − y)² / Σ m(y − ȳ)² over all real entries.
public enum SequenceReconstruction {
    public static func evaluate(model: SANEModel, store: TokenStore, samples: [WeightSample]) -> (mse: Double, r2: Double) {
        guard !samples.isEmpty else { return (.nan, .nan) }
        var sse = 0.0, sum = 0.0, sum2 = 0.0, count = 0.0
        Variable.withoutGradients {
            for s in samples {
                let sequence = store.sequence(s)                        // one checkpoint in memory at a time
                let out = reconstruct(model: model, sequence: sequence)
                sequence.tokens.withHostBuffer { y in sequence.mask.withHostBuffer { m in out.withHostBuffer { p in
                    for i in 0..<y.count where m[i] != 0 {
                        let e = Double(p[i] - y[i]); sse += e * e; sum += Double(y[i]); sum2 += Double(y[i]) * Double(y[i]); count += 1
                    }
                } } }
            }
        }
        let variance = sum2 - sum * sum / count
        return (sse / count, 1 - sse / variance)
    }

    /// Decoded tokens [N, d_t] of a sequence, window by window.
    public static func reconstruct(model: SANEModel, sequence: TokenSequence) -> Tensor {
        let ws = model.config.windowSize, n = sequence.count, d = sequence.tokenSize
        let windows = stride(from: 0, to: n, by: ws).map { start -> Tensor in
            let len = min(ws, n - start)
            let w = sequence.window(start: start, length: len)
            let z = model.encode(Variable(w.tokens.reshaped([1, len, d])), positions: w.positions)
            return model.decode(z, positions: w.positions).value.reshaped([len, d])
        }
        return windows.isEmpty ? Tensor(zeros: [0, d]) : Tensor.concatenated(windows)           // [N, d_t]
    }
}
