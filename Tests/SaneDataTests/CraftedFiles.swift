// Builders for the file formats Sane reads, so tests can craft exact (and hostile) bytes:
// ZIP archives, raw deflate and gzip streams, pickles, PyTorch checkpoints, IDX and
// safetensors files. No Python needed.

import Foundation
@testable import SaneData
import SaneTensor

/// Little-endian integer bytes.
func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
/// Big-endian integer bytes.
func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

// MARK: - ZIP

/// One entry to write: `data` is stored as is (method 0) or is already raw deflate (method 8),
/// in which case `uncompressedSize` and `crc` describe the claimed content.
struct ZipEntrySpec {
    var name: String
    var data: [UInt8]
    var method: UInt16 = 0
    var uncompressedSize: Int? = nil
    var crc: UInt32? = nil
}

/// A ZIP archive (no ZIP64) with the entries in order.
func zipArchive(_ entries: [ZipEntrySpec]) -> [UInt8] {
    var out: [UInt8] = [], central: [UInt8] = []
    for e in entries {
        let name = Array(e.name.utf8)
        let crc = e.crc ?? Inflate.crc32(Data(e.data))
        let size = UInt32(truncatingIfNeeded: e.uncompressedSize ?? e.data.count)
        let offset = UInt32(out.count)
        out += le(UInt32(0x0403_4B50)) + le(UInt16(20)) + le(UInt16(0)) + le(e.method) + le(UInt32(0))
        out += le(crc) + le(UInt32(e.data.count)) + le(size) + le(UInt16(name.count)) + le(UInt16(0)) + name + e.data
        central += le(UInt32(0x0201_4B50)) + le(UInt16(20)) + le(UInt16(20)) + le(UInt16(0)) + le(e.method) + le(UInt32(0))
        central += le(crc) + le(UInt32(e.data.count)) + le(size) + le(UInt16(name.count)) + le(UInt16(0)) + le(UInt16(0))
        central += le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(offset) + name
    }
    let dirOffset = UInt32(out.count)
    out += central
    out += le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(entries.count)) + le(UInt16(entries.count))
    out += le(UInt32(central.count)) + le(dirOffset) + le(UInt16(0))
    return out
}

// MARK: - deflate and gzip

/// A raw deflate stream (one fixed-Huffman block) of `count` copies of `byte`: one literal, then
/// length-258 back-references at distance 1 — 13 bits per 258 bytes, a ~160:1 ratio, enough to
/// build decompression bombs in a few kilobytes per megabyte.
func deflateRepeating(_ byte: UInt8, count: Int) -> [UInt8] {
    var out: [UInt8] = [], acc: UInt64 = 0, bits = 0
    func put(_ value: UInt64, _ n: Int) {            // LSB first
        acc |= value << UInt64(bits); bits += n
        while bits >= 8 { out.append(UInt8(acc & 0xFF)); acc >>= 8; bits -= 8 }
    }
    func code(_ c: UInt64, _ n: Int) {               // Huffman codes go MSB first
        var r: UInt64 = 0
        for i in 0..<n { r |= ((c >> UInt64(i)) & 1) << UInt64(n - 1 - i) }
        put(r, n)
    }
    func literal(_ v: Int) { v < 144 ? code(UInt64(0x30 + v), 8) : code(UInt64(0x190 + v - 144), 9) }
    put(1, 1); put(1, 2)                             // BFINAL, BTYPE = fixed Huffman
    var left = count
    if left > 0 { literal(Int(byte)); left -= 1 }
    while left > 0 {
        if left >= 258 + 3 || left == 258 {
            code(0xC5, 8); code(0, 5)                 // length 258 (code 285), distance 1
            left -= 258
        } else {
            literal(Int(byte)); left -= 1
        }
    }
    code(0, 7)                                       // end of block (256)
    if bits > 0 { out.append(UInt8(acc & 0xFF)) }
    return out
}

/// A gzip member around a raw deflate stream whose content has `crc` and `size`.
func gzipMember(deflate: [UInt8], crc: UInt32, size: Int) -> [UInt8] {
    [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + deflate + le(crc) + le(UInt32(truncatingIfNeeded: size))
}

/// gzip of `data` (stored deflate blocks, so any content can be written without a compressor).
func gzipStored(_ data: [UInt8]) -> [UInt8] {
    var d: [UInt8] = []
    var chunks = stride(from: 0, to: data.count, by: 65_535).map { data[$0..<min($0 + 65_535, data.count)] }
    if chunks.isEmpty { chunks = [data[0..<0]] }
    for (i, c) in chunks.enumerated() {
        d += [i == chunks.count - 1 ? 1 : 0] + le(UInt16(c.count)) + le(~UInt16(c.count)) + Array(c)
    }
    return gzipMember(deflate: d, crc: Inflate.crc32(Data(data)), size: data.count)
}

// MARK: - pickle

/// Pickle opcodes, written by hand.
struct PickleWriter {
    var bytes: [UInt8] = [0x80, 0x02]                        // PROTO 2

    mutating func op(_ b: UInt8...) { bytes += b }
    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        if u.count < 256 { bytes += [0x8C, UInt8(u.count)] + u } else { bytes += [0x58] + le(UInt32(u.count)) + u }
    }
    /// Any Int as LONG1 with 8 bytes.
    mutating func int(_ v: Int) { bytes += [0x8A, 8] + le(Int64(v)) }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func tuple(_ ints: [Int]) { op(0x28); ints.forEach { int($0) }; op(0x74) }
    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
}

/// A tensor entry of a crafted checkpoint: a view of storage `key`.
struct CraftedTensor {
    var name: String
    var storage: String = "0"
    var dtype: String = "FloatStorage"
    var storageCount: Int
    var offset: Int = 0
    var size: [Int]
    var stride: [Int]
}

/// The data.pkl of `torch.save(OrderedDict(tensors))`.
func statePickle(_ tensors: [CraftedTensor]) -> [UInt8] {
    var p = PickleWriter()
    p.global("collections", "OrderedDict"); p.op(0x29, 0x52)   // OrderedDict()
    p.mark()
    for t in tensors {
        p.string(t.name)
        p.global("torch._utils", "_rebuild_tensor_v2")
        p.mark()
        p.mark(); p.string("storage"); p.global("torch", t.dtype); p.string(t.storage); p.string("cpu"); p.int(t.storageCount)
        p.op(0x74, 0x51)                                         // TUPLE, BINPERSID
        p.int(t.offset)
        p.tuple(t.size)
        p.tuple(t.stride)
        p.op(0x89, 0x7D)                                         // requires_grad=False, backward_hooks={}
        p.op(0x74, 0x52)                                         // TUPLE, REDUCE
    }
    p.op(0x75)                                                   // SETITEMS
    p.stop()
    return p.bytes
}

/// A checkpoint zip: `archive/data.pkl` and one `archive/data/<key>` per storage.
func checkpointZip(pickle: [UInt8], storages: [String: [UInt8]]) -> [UInt8] {
    zipArchive([ZipEntrySpec(name: "archive/data.pkl", data: pickle)]
               + storages.keys.sorted().map { ZipEntrySpec(name: "archive/data/\($0)", data: storages[$0]!) })
}

/// Float32 little-endian bytes.
func float32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }

// MARK: - IDX and safetensors

/// An IDX file of unsigned bytes: header with `shape`, then `data`.
func idxFile(shape: [UInt32], data: [UInt8]) -> [UInt8] {
    [0, 0, 8, UInt8(shape.count)] + shape.flatMap { be($0) } + data
}

/// A safetensors file with the given header JSON (padded to 8 bytes) and data section.
func safetensorsFile(header: String, data: [UInt8]) -> [UInt8] {
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    return le(UInt64(h.count)) + h + data
}
