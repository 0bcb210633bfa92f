// Which windows an epoch trains on, and how they are grouped into batches (SANE-SPEC §3
// "Windows", §9 "one window per model per batch, each model super-sampled so that the windows
// roughly cover it every epoch").

/// One window of an epoch: a checkpoint of the split and the window's first token (nil: drawn
/// uniformly from 0…N−ws when the batch is made, as `windowsPerCheckpoint` ≥ 1 does).
public struct PlannedWindow: Sendable, Equatable {
    public var sample: Int
    public var start: Int?
}

public enum WindowPlan {
    /// Windows of `samples` per epoch: `windowsPerCheckpoint` each, or ceil(N/ws) each in coverage mode (0).
    public static func windowsPerEpoch(_ samples: [WeightSample], config: SANEConfig) -> Int {
        config.windowsPerCheckpoint > 0 ? samples.count * config.windowsPerCheckpoint
            : samples.reduce(0) { $0 + max(1, ($1.tokens + config.windowSize - 1) / config.windowSize) }
    }

    /// The batches of one epoch. `windowsPerCheckpoint` ≥ 1: each checkpoint that many times in a
    /// random order, starts drawn later. 0: each checkpoint's `tiling` windows, in a random order.
    /// Then cut into batches of `batchSize`, or, with `onePerModelPerBatch`, filled greedily so
    /// that no batch holds two windows of one model (`SANEConfig.onePerModelPerBatch`).
    public static func epoch(_ samples: [WeightSample], config: SANEConfig, using g: inout SeededGenerator) -> [[PlannedWindow]] {
        let order: [PlannedWindow]
        if config.windowsPerCheckpoint > 0 {
            order = g.permutation(samples.count * config.windowsPerCheckpoint).map { PlannedWindow(sample: $0 % samples.count, start: nil) }
        } else {
            var slots: [PlannedWindow] = []
            for (i, s) in samples.enumerated() {
                slots += tiling(tokens: s.tokens, window: config.windowSize, using: &g).map { PlannedWindow(sample: i, start: $0) }
            }
            order = g.permutation(slots.count).map { slots[$0] }
        }
        let b = config.batchSize
        guard config.onePerModelPerBatch else {
            return stride(from: 0, to: order.count, by: b).map { Array(order[$0..<min(order.count, $0 + b)]) }
        }
        var ids: [String: Int] = [:]
        let model = samples.map { s -> Int in
            let key = "\(s.zoo)/\(s.model)"
            if let id = ids[key] { return id }
            ids[key] = ids.count
            return ids.count - 1
        }
        var batches: [[PlannedWindow]] = [], deferred: [PlannedWindow] = [], next = 0
        while next < order.count || !deferred.isEmpty {
            var batch: [PlannedWindow] = [], seen = Set<Int>(), waiting: [PlannedWindow] = []
            for w in deferred {
                if batch.count < b && seen.insert(model[w.sample]).inserted { batch.append(w) } else { waiting.append(w) }
            }
            while batch.count < b && next < order.count {
                let w = order[next]; next += 1
                if seen.insert(model[w.sample]).inserted { batch.append(w) } else { waiting.append(w) }
            }
            deferred = waiting
            batches.append(batch)
        }
        return batches
    }

    /// Starts of m = ceil(N/ws) windows of `ws` tokens that together cover all N tokens: window k
    /// starts at k·ws − o_k with 0 = o_0 ≤ o_1 ≤ … ≤ o_{m−1} = m·ws − N, the inner o_k sorted
    /// uniform draws, so the overlap falls at random junctions. N ≤ ws: one window at 0.
    public static func tiling(tokens n: Int, window ws: Int, using g: inout SeededGenerator) -> [Int] {
        let m = max(1, (n + ws - 1) / ws)
        guard m > 1 else { return [0] }
        let slack = m * ws - n
        let inner = (0..<(m - 2)).map { _ in g.int(below: slack + 1) }.sorted()
        let overlaps = [0] + inner + [slack]
        return (0..<m).map { $0 * ws - overlaps[$0] }
    }
}
