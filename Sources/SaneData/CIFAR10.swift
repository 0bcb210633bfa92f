// CIFAR-10 as the JPEG copy in `<data>/cifar10/cifar10-jpeg75-images.tar.gz` (ustar inside gzip,
// members `train|test/<class>/NNNN.jpg`, see that folder's README). Lossy: the pixels are a JPEG
// (quality 75) re-encoding of CIFAR-10, so accuracies sit below published CIFAR-10 figures.
//
// The first load gunzips the archive, walks it with `Tar`, and decodes the 60,000 JPEGs with
// libjpeg-turbo (both cores); the decoded bytes of each split are then cached as a safetensors
// file (U8 tensors `images` [N, 32, 32, 3] HWC RGB and `labels` [N]) named after the archive's
// size and SHA-256, so later loads read ~180 MB instead of decoding. Cache folder: $SANE_CACHE,
// else $XDG_CACHE_HOME/sane, else ~/.cache/sane; a cache that cannot be written is skipped with
// a warning, a cache file that does not parse is decoded again and replaced.

import Foundation
import SaneTensor

/// Decoded images as bytes, before scaling: pixels [N, H, W, C] (HWC, row-major) and labels [N].
public struct RawImages: Sendable, Equatable {
    public var pixels: [UInt8]
    public var labels: [UInt8]
    public var height: Int, width: Int, channels: Int
    public var count: Int { labels.count }

    /// Float images [N, C, H, W] = pixels / 255, labels as Int.
    public func dataset() -> ImageDataset {
        let (h, w, c) = (height, width, channels)
        let images = pixels.withUnsafeBufferPointer { src in
            Tensor(shape: [count, c, h, w]) { dst in
                for n in 0..<count {
                    let s = src.baseAddress! + n * h * w * c, d = dst + n * c * h * w
                    for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                        d[(ch * h + y) * w + x] = Float(s[(y * w + x) * c + ch]) / 255
                    } } }
                }
            }
        }
        return ImageDataset(images: images, labels: labels.map(Int.init))
    }
}

/// The CIFAR-10 JPEG copy in `directory` (the dataset's own folder).
public struct CIFAR10JPEGSource: ImageDatasetSource {
    public static let archiveName = "cifar10-jpeg75-images.tar.gz"
    /// Class names in label order (the folder names of the archive).
    public static let classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let side = 32

    public var directory: URL
    /// Where decoded splits are cached; nil: no cache.
    public var cacheDirectory: URL?

    public init(directory: URL, cacheDirectory: URL? = CIFAR10JPEGSource.defaultCacheDirectory()) {
        self.directory = directory; self.cacheDirectory = cacheDirectory
    }

    /// $SANE_CACHE, else $XDG_CACHE_HOME/sane, else ~/.cache/sane.
    public static func defaultCacheDirectory() -> URL {
        let env = ProcessInfo.processInfo.environment
        if let d = env["SANE_CACHE"], !d.isEmpty { return URL(fileURLWithPath: d) }
        if let d = env["XDG_CACHE_HOME"], !d.isEmpty { return URL(fileURLWithPath: d).appendingPathComponent("sane") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sane")
    }

    public var archive: URL { directory.appendingPathComponent(Self.archiveName) }

    public func load(_ split: DatasetSplit) throws -> ImageDataset { try raw(split).dataset() }

    /// The split's decoded bytes, from the cache when it holds them, else decoded (and cached).
    public func raw(_ split: DatasetSplit) throws -> RawImages {
        guard let compressed = FileManager.default.contents(atPath: archive.path) else {
            throw SaneError("cannot read \(archive.path)", hint: "the cifar10 folder must hold \(Self.archiveName)")
        }
        let key = "cifar10-jpeg75-\(compressed.count)-\(String(SHA256.hex(compressed).prefix(16)))"
        func cacheFile(_ s: DatasetSplit) -> URL? { cacheDirectory?.appendingPathComponent("\(key)-\(s.rawValue).safetensors") }
        if let url = cacheFile(split), let cached = try? Self.readCache(url) { return cached }
        let splits = try Self.decode(archive: compressed, source: archive.path)
        guard let wanted = splits[split] else { throw SaneError("no \(split.rawValue) images in \(archive.path)") }
        if let dir = cacheDirectory {
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for (s, images) in splits { if let url = cacheFile(s) { try Self.writeCache(images, to: url, key: key) } }
            } catch {
                FileHandle.standardError.write(Data("warning: not caching decoded CIFAR-10 in \(dir.path): \(error)\n".utf8))
            }
        }
        return wanted
    }

    /// Decodes the gzipped tar `archive`: every `train|test/<class>/*.jpg` member in archive
    /// order (other files and directories are ignored). `source` names the archive in errors.
    public static func decode(archive: Data, source: String) throws -> [DatasetSplit: RawImages] {
        let tar = try Inflate.gunzip(archive, source: source)
        return try tar.withUnsafeBytes { bytes -> [DatasetSplit: RawImages] in
            var items: [DatasetSplit: [(member: TarMember, label: UInt8)]] = [:]
            for m in try Tar.members(bytes, source: source) where m.kind == .file && m.path.hasSuffix(".jpg") {
                let parts = m.path.split(separator: "/").filter { $0 != "." }
                guard parts.count == 3, let split = DatasetSplit(rawValue: String(parts[0])),
                      let label = classes.firstIndex(of: String(parts[1])) else {
                    throw SaneError("unexpected member \(m.path) in \(source)", hint: "expected train|test/<class>/NNNN.jpg with a CIFAR-10 class name")
                }
                items[split, default: []].append((m, UInt8(label)))
            }
            var out: [DatasetSplit: RawImages] = [:]
            for (split, list) in items {
                let per = side * side * 3
                var pixels = [UInt8](repeating: 0, count: list.count * per)
                var errors = [SaneError?](repeating: nil, count: list.count)
                let chunk = 500
                pixels.withUnsafeMutableBufferPointer { px in errors.withUnsafeMutableBufferPointer { errs in
                    let (p, e) = (px.baseAddress!, errs.baseAddress!)
                    Parallel.forEach((list.count + chunk - 1) / chunk) { c in
                        for i in c * chunk..<min(list.count, (c + 1) * chunk) {
                            let m = list[i].member
                            do {
                                let size = try JPEG.decodeRGB(UnsafeRawBufferPointer(rebasing: bytes[m.offset..<m.offset + m.size]),
                                                              into: p + i * per, capacity: per, source: "\(m.path) in \(source)")
                                if size != (side, side) {
                                    e[i] = SaneError("\(m.path) in \(source) is \(size.width)×\(size.height), expected 32×32")
                                }
                            } catch { e[i] = error as? SaneError ?? SaneError("\(error)") }
                        }
                    }
                } }
                if let first = errors.lazy.compactMap({ $0 }).first { throw first }
                out[split] = RawImages(pixels: pixels, labels: list.map(\.label), height: side, width: side, channels: 3)
            }
            guard let train = out[.train], out[.test] != nil, Set(train.labels).count == classes.count else {
                throw SaneError("\(source) lacks a train or test split or some classes",
                                hint: "expected train/<class>/*.jpg and test/<class>/*.jpg for the 10 CIFAR-10 classes")
            }
            return out
        }
    }

    // MARK: - Cache file (safetensors, U8)

    static func writeCache(_ r: RawImages, to url: URL, key: String) throws {
        let imageBytes = r.pixels.count
        let header = JSONValue.object([
            JSONMember("__metadata__", .object([JSONMember("source", .string(key)), JSONMember("layout", .string("NHWC RGB uint8"))])),
            JSONMember("images", .object([JSONMember("dtype", .string("U8")),
                                         JSONMember("shape", .array([r.count, r.height, r.width, r.channels].map { .number(Double($0)) })),
                                         JSONMember("data_offsets", .array([.number(0), .number(Double(imageBytes))]))])),
            JSONMember("labels", .object([JSONMember("dtype", .string("U8")), JSONMember("shape", .array([.number(Double(r.count))])),
                                         JSONMember("data_offsets", .array([.number(Double(imageBytes)), .number(Double(imageBytes + r.count))]))])),
        ]).jsonText
        var text = Array(header.utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        var data = Data(capacity: 8 + text.count + imageBytes + r.count)
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: text)
        data.append(contentsOf: r.pixels)
        data.append(contentsOf: r.labels)
        try data.write(to: url, options: .atomic)
    }

    /// Reads a cache file written by `writeCache`; throws on anything unexpected.
    static func readCache(_ url: URL) throws -> RawImages {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        let bad = SaneError("cache file \(url.path) is not a CIFAR-10 cache", hint: "delete it")
        guard data.count >= 8 else { throw bad }
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n > 0, n <= data.count - 8 else { throw bad }
        let header = try JSONValue.parse(data[8..<8 + n])
        func tensor(_ name: String) throws -> (shape: [Int], range: Range<Int>) {
            guard let t = header[name], t["dtype"]?.stringValue == "U8",
                  let shape = t["shape"]?.arrayValue?.compactMap(\.intValue),
                  let offs = t["data_offsets"]?.arrayValue?.compactMap(\.intValue), offs.count == 2,
                  offs[0] >= 0, offs[0] <= offs[1], offs[1] <= data.count - 8 - n,
                  shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == offs[1] - offs[0] else { throw bad }
            return (shape, 8 + n + offs[0]..<8 + n + offs[1])
        }
        let images = try tensor("images"), labels = try tensor("labels")
        guard images.shape.count == 4, labels.shape == [images.shape[0]], images.shape[1...] == [side, side, 3] else { throw bad }
        let labelBytes = [UInt8](data[labels.range])
        guard labelBytes.allSatisfy({ Int($0) < classes.count }) else { throw bad }
        return RawImages(pixels: [UInt8](data[images.range]), labels: labelBytes, height: side, width: side, channels: 3)
    }
}
