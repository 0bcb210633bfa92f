// PyTorch checkpoints (`torch.save(state_dict)`, the zip format of PyTorch ≥ 1.6) → StateDict.
//
// Archive layout: `<prefix>/data.pkl` is a pickle of an OrderedDict name → tensor; each tensor
// is `_rebuild_tensor_v2(storage, offset, size, stride, ...)` over a storage whose raw
// little-endian bytes are the entry `<prefix>/data/<key>`. See `Pickle.swift` for what the
// restricted unpickler accepts.

import Foundation
import SaneTensor

public enum TorchCheckpoint {
    /// Tensors larger than this many elements are refused as corrupt (guards allocations).
    public static let maxElements = 1 << 31

    /// The most elements all tensors of a checkpoint of `bytes` bytes may have together.
    /// Views can read a storage element many times (stride 0, overlapping or shared views), so
    /// without a cap a file of a few hundred bytes could ask for gigabytes; real checkpoints
    /// have at most about one element per byte (tied weights share storage, 1-byte dtypes).
    public static func elementBudget(fileBytes bytes: Int) -> Int { 2 * bytes + (1 << 20) }

    /// Reads the state_dict saved by `torch.save` at `url`. Every tensor becomes Float32
    /// (float/double/half/bfloat16/long/int/short/char/byte/bool). Dict entries that are not
    /// tensors (Python numbers, strings) are skipped. A checkpoint that wraps the state_dict as
    /// `{"state_dict": ...}` or `{"model_state_dict": ...}` is unwrapped.
    public static func read(_ url: URL) throws -> StateDict {
        try decode(ZipArchive(contentsOf: url))
    }

    /// Decodes a checkpoint's bytes; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> StateDict {
        try decode(ZipArchive(data: data, source: source))
    }

    static func decode(_ zip: ZipArchive) throws -> StateDict {
        let source = zip.source
        guard let pkl = zip.entries.filter({ $0.name.hasSuffix("data.pkl") }).min(by: { $0.name.count < $1.name.count }) else {
            throw SaneError("no data.pkl in \(source)", hint: "not a PyTorch checkpoint saved by torch.save")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let order = zip.entry(named: prefix + "byteorder"),
           let text = String(data: try zip.contents(of: order), encoding: .utf8), text != "little" {
            throw SaneError("checkpoint \(source) is stored \(text)-endian", hint: "re-save it on a little-endian machine")
        }
        // Bytes extracted in all (pickle and storages): ZIP entries may overlap (many directory
        // entries naming the same data) or be compressed, so the sum is capped by the file size.
        // Checked against each entry's declared size before extracting it: inflation never
        // goes past the declared size.
        let maxExtracted = 4 * zip.data.count + (1 << 26)
        var extracted = pkl.uncompressedSize
        func checkExtracted() throws {
            guard extracted <= maxExtracted else {
                throw SaneError("checkpoint \(source): its entries extract to more than \(maxExtracted) bytes from a \(zip.data.count)-byte file",
                                hint: "the archive's entries overlap or are a decompression bomb; re-save it with torch.save")
            }
        }
        try checkExtracted()
        var unpickler = Unpickler(bytes: Array(try zip.contents(of: pkl)), source: source)
        guard case .dict(var dict) = try unpickler.load() else {
            throw SaneError("checkpoint \(source) does not hold a dict", hint: "save model.state_dict(), not the model")
        }
        for wrapper in ["state_dict", "model_state_dict"] {
            if case .dict(let inner)? = dict[wrapper] { dict = inner; break }
        }

        var storages: [String: Data] = [:]
        var sd = StateDict()
        var budget = elementBudget(fileBytes: zip.data.count)
        for (key, value) in dict.items {
            guard case .string(let name) = key, case .tensor(let ref) = value else { continue }
            let bytes: Data
            if let cached = storages[ref.storage.key] {
                bytes = cached
            } else {
                let entryName = prefix + "data/" + ref.storage.key
                guard let entry = zip.entry(named: entryName) else {
                    throw SaneError("no entry \(entryName) in checkpoint \(source) for tensor \(name)", hint: "the checkpoint is corrupt or truncated")
                }
                extracted += entry.uncompressedSize
                try checkExtracted()
                bytes = try zip.contents(of: entry)
                storages[ref.storage.key] = bytes
            }
            sd[name] = try materialize(ref, bytes: bytes, name: name, source: source, budget: &budget)
        }
        guard sd.count > 0 else { throw SaneError("checkpoint \(source) contains no tensors") }
        return sd
    }

    /// Copies the strided view `ref` out of its storage bytes into a dense row-major tensor,
    /// taking its element count from `budget` (refused when the budget is spent).
    static func materialize(_ ref: TorchTensorRef, bytes: Data, name: String, source: String, budget: inout Int) throws -> Tensor {
        func fail(_ what: String) -> SaneError {
            SaneError("tensor \(name) in \(source): \(what)", hint: "the checkpoint is corrupt")
        }
        let dtype = ref.storage.dtype.scalarType
        guard ref.storage.count <= bytes.count / dtype.size else {
            throw fail("storage \(ref.storage.key) holds \(bytes.count) bytes, needs \(ref.storage.count) × \(dtype.size)")
        }
        guard ref.offset >= 0, !ref.size.contains(where: { $0 < 0 }), !ref.stride.contains(where: { $0 < 0 }) else {
            throw fail("negative size, stride or offset")
        }
        // The product of the non-zero sizes bounds every partial product of the shape (in any
        // order), so no shape arithmetic downstream can overflow, even for an empty tensor.
        var span = 1
        for n in ref.size where n > 0 {
            let (c, overflow) = span.multipliedReportingOverflow(by: n)
            guard !overflow, c <= maxElements else { throw fail("size \(ref.size) is too large") }
            span = c
        }
        let count = ref.size.contains(0) ? 0 : span
        // The largest storage index a non-empty view reads, overflow-checked.
        if count > 0 {
            var last = ref.offset
            for (n, s) in zip(ref.size, ref.stride) {
                let (reach, o1) = (n - 1).multipliedReportingOverflow(by: s)
                let (l, o2) = last.addingReportingOverflow(reach)
                guard !o1, !o2 else { throw fail("view (offset \(ref.offset), size \(ref.size), stride \(ref.stride)) is too large") }
                last = l
            }
            guard last < ref.storage.count else {
                throw fail("view (offset \(ref.offset), size \(ref.size), stride \(ref.stride)) exceeds its storage of \(ref.storage.count) elements")
            }
        }
        guard count <= budget else {
            throw SaneError("tensor \(name) in \(source): \(count) elements (size \(ref.size), stride \(ref.stride)) are more than the file's size can back",
                            hint: "the checkpoint repeats stored values through stride-0 or overlapping views; save contiguous tensors (tensor.contiguous()) instead")
        }
        budget -= count
        return bytes.withUnsafeBytes { raw in
            Tensor(shape: ref.size) { out in
                guard count > 0, let base = raw.baseAddress else { return }
                if ref.stride == Tensor.strides(ref.size) {
                    for i in 0..<count { out[i] = dtype.element(base, ref.offset + i) }
                    return
                }
                // Odometer over the multi-index; `src` tracks the storage index and only ever
                // takes values inside the checked range [offset, last].
                let rank = ref.size.count
                var index = [Int](repeating: 0, count: rank)
                var src = ref.offset
                for i in 0..<count {
                    out[i] = dtype.element(base, src)
                    var d = rank - 1
                    while d >= 0 {
                        if index[d] + 1 < ref.size[d] {
                            index[d] += 1
                            src += ref.stride[d]
                            break
                        }
                        src -= ref.stride[d] * index[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
    }
}

extension StateDict {
    /// Reads a PyTorch checkpoint (zip) or a safetensors file, telling them apart by content
    /// (a zip starts with "PK\u{3}\u{4}").
    public init(contentsOf url: URL) throws {
        let data = try FileBytes.read(url, what: "checkpoint")
        if data.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            self = try TorchCheckpoint.decode(data, source: url.path)
        } else if data.starts(with: [0x80, 0x02, 0x8A]) {
            throw SaneError("\(url.path) uses the legacy (pre-1.6) torch.save format",
                            hint: "re-save it with a current PyTorch: torch.save(torch.load(path), path)")
        } else {
            self = try Safetensors.decode(data, source: url.path)
        }
    }
}
