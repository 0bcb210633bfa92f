// safetensors reading and writing for `StateDict`.
//
// File layout (https://github.com/huggingface/safetensors):
//   8 bytes   N, little-endian UInt64: header length
//   N bytes   JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"k": "v"}}, padded with spaces to a multiple of 8
//   rest      raw little-endian tensor data; offsets are relative to the start of this section
//
// We write F32 only, with keys in StateDict order (the header is built by hand, so the order is
// exactly the state_dict's). We read floats (F32, F16, BF16, F64) and integers/bools (I64, I32,
// I16, I8, U8, BOOL, e.g. BatchNorm's num_batches_tracked), all converted to Float32, and keep
// the file's key order, which is SANE's token order.

import Foundation

public enum Safetensors {
    /// Headers larger than this are refused as corrupt (real headers are kilobytes).
    public static let maxHeaderBytes = 100_000_000

    /// The file bytes for `stateDict`: F32 tensors in key order, metadata in `__metadata__`.
    public static func encode(_ stateDict: StateDict) -> Data {
        var members: [JSONMember] = []
        if !stateDict.metadata.isEmpty {
            let meta = stateDict.metadata.sorted { $0.key < $1.key }.map { JSONMember($0.key, .string($0.value)) }
            members.append(JSONMember("__metadata__", .object(meta)))
        }
        var offset = 0
        for (name, t) in stateDict.items {
            let end = offset + 4 * t.count
            members.append(JSONMember(name, .object([
                JSONMember("dtype", .string("F32")),
                JSONMember("shape", .array(t.shape.map { .number(Double($0)) })),
                JSONMember("data_offsets", .array([.number(Double(offset)), .number(Double(end))])),
            ])))
            offset = end
        }
        var header = Array(JSONValue.object(members).jsonText.utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for (_, t) in stateDict.items {
            // Float32 is little-endian on every platform Swift supports on Linux and macOS.
            t.withHostBuffer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        }
        return data
    }

    /// Writes `stateDict` to `url` atomically (`AtomicFile`): readers never see a half-written file.
    public static func write(_ stateDict: StateDict, to url: URL) throws {
        try AtomicFile.write(encode(stateDict), to: url)
    }

    /// Reads a safetensors file.
    public static func read(_ url: URL) throws -> StateDict {
        try decode(FileBytes.read(url, what: "safetensors file"), source: url.path)
    }

    /// Decodes safetensors bytes; `source` names the file in error messages.
    public static func decode(_ data: Data, source: String) throws -> StateDict {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> StateDict in
            let header = try Header(parsing: raw, source: source)
            var sd = StateDict()
            sd.metadata = header.metadata
            for e in header.entries {
                let base = raw.baseAddress! + header.dataStart + e.begin
                sd[e.name] = Tensor(shape: e.shape) { out in e.dtype.convert(base, count: e.count, into: out) }
            }
            return sd
        }
    }

    /// A parsed and checked safetensors header: every entry's dtype, shape and byte range, the
    /// ranges tiling the data section. Shared by `decode` and `MappedSafetensors`.
    public struct Header: Sendable {
        public struct Entry: Sendable {
            public var name: String
            public var dtype: StoredScalarType
            public var shape: [Int]
            /// Elements.
            public var count: Int
            /// Byte range relative to `dataStart`.
            public var begin: Int, end: Int
        }
        public var metadata: [String: String] = [:]
        public var entries: [Entry] = []
        /// Byte offset of the data section in the file (8 + header length).
        public var dataStart = 0

        /// Parses the header of the file bytes `raw`; `source` names the file in errors.
        public init(parsing raw: UnsafeRawBufferPointer, source: String) throws {
            func fail(_ what: String) -> SaneError {
                SaneError("\(what) in safetensors file \(source)", hint: "the file is corrupt or not a safetensors file")
            }
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 8, raw.baseAddress != nil else { throw fail("file shorter than the 8-byte header length") }
            var n: UInt64 = 0
            for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
            guard n <= UInt64(maxHeaderBytes) else { throw fail("header length \(n) exceeds \(maxHeaderBytes) bytes") }
            guard 8 + Int(n) <= bytes.count else { throw fail("header length \(n) runs past the end of the \(bytes.count)-byte file") }
            let headerEnd = 8 + Int(n)
            let header: JSONValue
            do { header = try JSONValue.parse(bytes[8..<headerEnd]) } catch let e as SaneError { throw fail(e.message) }
            guard let members = header.objectMembers else { throw fail("header is not a JSON object") }
            let dataCount = bytes.count - headerEnd
            dataStart = headerEnd

            // Every entry is checked, and the ranges together, before any tensor is allocated.
            var names = Set<String>()
            for member in members {
                if member.key == "__metadata__" {
                    guard let meta = member.value.objectMembers else { throw fail("__metadata__ is not an object") }
                    for m in meta {
                        guard let s = m.value.stringValue else { throw fail("__metadata__ value \"\(m.key)\" is not a string") }
                        metadata[m.key] = s
                    }
                    continue
                }
                let name = member.key
                guard let dtypeName = member.value["dtype"]?.stringValue else { throw fail("tensor \"\(name)\" has no dtype") }
                guard let dtype = StoredScalarType(rawValue: dtypeName) else {
                    throw SaneError("tensor \"\(name)\" has unsupported dtype \(dtypeName) in safetensors file \(source)",
                                    hint: "Sane reads \(StoredScalarType.allCases.map(\.rawValue).joined(separator: ", ")); convert the tensor to float32")
                }
                guard let dims = member.value["shape"]?.arrayValue else { throw fail("tensor \"\(name)\" has a bad shape") }
                let shape = dims.compactMap(\.intValue)
                guard shape.count == dims.count, !shape.contains(where: { $0 < 0 }) else { throw fail("tensor \"\(name)\" has a bad shape") }
                guard let offs = member.value["data_offsets"]?.arrayValue?.compactMap(\.intValue), offs.count == 2,
                      offs[0] >= 0, offs[0] <= offs[1], offs[1] <= dataCount
                else { throw fail("tensor \"\(name)\" has data_offsets outside the \(dataCount)-byte data section") }
                // The product of the non-zero sizes bounds every partial product, in any order.
                var span = 1
                for d in shape where d > 0 {
                    let (p, overflow) = span.multipliedReportingOverflow(by: d)
                    guard !overflow else { throw fail("tensor \"\(name)\" shape \(shape) is too large") }
                    span = p
                }
                let count = shape.contains(0) ? 0 : span
                guard count.multipliedReportingOverflow(by: dtype.size) == (offs[1] - offs[0], false) else {
                    throw fail("tensor \"\(name)\" shape \(shape) needs \(count) × \(dtype.size) bytes but data_offsets span \(offs[1] - offs[0])")
                }
                guard names.insert(name).inserted else { throw fail("duplicate tensor name \"\(name)\"") }
                entries.append(Entry(name: name, dtype: dtype, shape: shape, count: count, begin: offs[0], end: offs[1]))
            }
            try checkTiling(entries.map { ($0.begin, $0.end, $0.name) }, dataCount: dataCount, fail: fail)
        }
    }
}

extension Safetensors {
    /// The tensors' byte ranges must tile the data section: sorted by offset, each starting
    /// where the previous ended, the last ending at the end of the file — as the reference
    /// implementation requires. This refuses overlapping ranges (one stored byte read as many
    /// tensors would let a small file expand without bound) and unaccounted bytes.
    static func checkTiling(_ ranges: [(begin: Int, end: Int, name: String)], dataCount: Int,
                            fail: (String) -> SaneError) throws {
        var end = 0, previous: String?
        for r in ranges.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if r.begin < end {
                throw fail("tensor \"\(r.name)\" data_offsets [\(r.begin), \(r.end)] overlap those of \"\(previous ?? "")\"")
            }
            if r.begin > end {
                throw fail("\(r.begin - end) unused bytes before tensor \"\(r.name)\" (data_offsets [\(r.begin), \(r.end)])")
            }
            end = r.end
            previous = r.name
        }
        guard end == dataCount else { throw fail("\(dataCount - end) bytes after the last tensor's data") }
    }
}

/// Element types of stored tensors (safetensors files, PyTorch storages), all read as Float32.
public enum StoredScalarType: String, CaseIterable, Sendable {
    // Raw values are the safetensors dtype names.
    case float32 = "F32", float64 = "F64", float16 = "F16", bfloat16 = "BF16"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// Element `i` of little-endian data at `p` (any alignment), converted to Float32
    /// (rounding float64 and integers beyond 2^24).
    @inline(__always) public func element(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        switch self {
        case .float32: Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .float64: Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        case .float16: floatFromHalfBits(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case .bfloat16: Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
        case .int64: Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        case .int32: Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .int16: Float(Int16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .int8: Float(p.load(fromByteOffset: i, as: Int8.self))
        case .uint8: Float(p.load(fromByteOffset: i, as: UInt8.self))
        case .bool: p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
        }
    }

    /// Converts `count` elements at `src` into `out`.
    public func convert(_ src: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = element(src, i) }
    }
}

/// IEEE 754 binary16 bits → Float32 (exact; handles subnormals, ±Inf and NaN).
/// Written out rather than using `Float16`, which is unavailable on macOS x86-64.
@inlinable public func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

extension StateDict {
    /// Reads a safetensors file (every `StoredScalarType` → Float32), keeping its key order and metadata.
    public init(safetensorsAt url: URL) throws { self = try Safetensors.read(url) }

    /// Writes this state dict as an F32 safetensors file, atomically.
    public func writeSafetensors(to url: URL) throws { try Safetensors.write(self, to: url) }
}
