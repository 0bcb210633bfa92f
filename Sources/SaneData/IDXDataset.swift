// Image classification datasets: the IDX format of MNIST-style files (raw or .gz), named
// datasets (mnist, fashion-mnist, digits8x8), a data-directory search, resizing/padding, and
// seeded mini-batches.
//
// Shapes: images [N, C, H, W] Float32 in [0, 1]; labels [N] class indices.
//
// New sources (CIFAR-10 binary batches, image folders) plug in by conforming to
// `ImageDatasetSource` and adding a case to `NamedDataset`.

import Foundation
import SaneTensor

/// Labelled images held in memory.
public struct ImageDataset: Sendable {
    /// [N, C, H, W], values in [0, 1].
    public var images: Tensor
    /// [N] class indices.
    public var labels: [Int]

    public init(images: Tensor, labels: [Int]) {
        precondition(images.rank == 4 && images.shape[0] == labels.count,
                     "ImageDataset needs images [N, C, H, W] with N = \(labels.count) labels, got \(images.shape)")
        self.images = images
        self.labels = labels
    }

    public var count: Int { labels.count }
    public var channels: Int { images.shape[1] }
    public var height: Int { images.shape[2] }
    public var width: Int { images.shape[3] }
    /// 1 + the largest label.
    public var classCount: Int { (labels.max() ?? -1) + 1 }

    /// The images and labels at `indices`, in that order: images [B, C, H, W], labels [B].
    public func batch(_ indices: [Int]) -> (images: Tensor, labels: [Int]) {
        let per = channels * height * width
        let src = images.readPointer
        let out = Tensor(shape: [indices.count, channels, height, width]) { p in
            for (b, i) in indices.enumerated() { (p + b * per).update(from: src + i * per, count: per) }
        }
        return (out, indices.map { labels[$0] })
    }

    /// The examples at `indices` as a new dataset.
    public func subset(_ indices: [Int]) -> ImageDataset {
        let b = batch(indices)
        return ImageDataset(images: b.images, labels: b.labels)
    }

    /// Images zero-padded on all sides to `size`×`size`, centred (extra odd pixel at the
    /// bottom/right). E.g. MNIST 28×28 → 32×32 for CIFAR-sized models.
    public func padded(to size: Int) -> ImageDataset {
        precondition(size >= height && size >= width, "cannot pad \(height)×\(width) images to \(size)×\(size)")
        let (c, h, w) = (channels, height, width)
        let top = (size - h) / 2, left = (size - w) / 2
        let src = images.readPointer
        var out = Tensor(zeros: [count, c, size, size])
        let dst = out.writePointer()
        for plane in 0..<count * c {
            for y in 0..<h {
                (dst + plane * size * size + (y + top) * size + left).update(from: src + plane * h * w + y * w, count: w)
            }
        }
        return ImageDataset(images: out, labels: labels)
    }

    /// Images resized to `size`×`size` by bilinear interpolation with half-pixel centres
    /// (PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`, no antialiasing).
    /// E.g. digits8x8 → 28×28 for the MNIST CNN.
    public func resized(to size: Int) -> ImageDataset {
        let (c, h, w) = (channels, height, width)
        // For each output coordinate: the two source indices and the weight of the second.
        func taps(_ n: Int, _ from: Int) -> [(Int, Int, Float)] {
            (0..<n).map { o in
                let x = max((Float(o) + 0.5) * Float(from) / Float(n) - 0.5, 0)
                let i0 = min(Int(x), from - 1)
                return (i0, min(i0 + 1, from - 1), x - Float(i0))
            }
        }
        let ys = taps(size, h), xs = taps(size, w)
        let src = images.readPointer
        let out = Tensor(shape: [count, c, size, size]) { dst in
            for plane in 0..<count * c {
                let s = src + plane * h * w, d = dst + plane * size * size
                for (oy, (y0, y1, wy)) in ys.enumerated() {
                    for (ox, (x0, x1, wx)) in xs.enumerated() {
                        let top = s[y0 * w + x0] * (1 - wx) + s[y0 * w + x1] * wx
                        let bottom = s[y1 * w + x0] * (1 - wx) + s[y1 * w + x1] * wx
                        d[oy * size + ox] = top * (1 - wy) + bottom * wy
                    }
                }
            }
        }
        return ImageDataset(images: out, labels: labels)
    }

    /// One epoch of mini-batches in a random order drawn from `generator`.
    public func shuffledBatches(size: Int, using generator: inout SeededGenerator, dropLast: Bool = false) -> MiniBatches {
        MiniBatches(dataset: self, order: generator.permutation(count), size: size, dropLast: dropLast)
    }
}

/// Mini-batches over a fixed example order; each batch is gathered when iterated.
public struct MiniBatches: Sequence, Sendable {
    public let dataset: ImageDataset
    public let order: [Int]
    public let size: Int
    public let dropLast: Bool

    public init(dataset: ImageDataset, order: [Int], size: Int, dropLast: Bool) {
        precondition(size > 0, "batch size must be positive")
        self.dataset = dataset; self.order = order; self.size = size; self.dropLast = dropLast
    }

    /// Number of batches.
    public var count: Int { dropLast ? order.count / size : (order.count + size - 1) / size }

    public func makeIterator() -> AnyIterator<(images: Tensor, labels: [Int])> {
        var b = 0
        return AnyIterator {
            guard b < count else { return nil }
            defer { b += 1 }
            return dataset.batch(Array(order[b * size..<Swift.min((b + 1) * size, order.count)]))
        }
    }
}

/// Which part of a dataset.
public enum DatasetSplit: String, Sendable {
    case train, test
}

/// Something that can load a dataset split from files.
public protocol ImageDatasetSource: Sendable {
    func load(_ split: DatasetSplit) throws -> ImageDataset
}

// MARK: - IDX files

/// The IDX format (http://yann.lecun.com/exdb/mnist/): magic 0x0000 <type> <rank>, then `rank`
/// big-endian UInt32 dimensions, then the data. We read unsigned bytes (type 0x08), raw or gzip.
public enum IDX {
    /// Reads an IDX file (gunzipping it if it starts with the gzip magic). Returns the shape and
    /// the bytes. The header's shape must account for the data exactly; a compressed file is
    /// inflated only up to the size its header declares.
    public static func read(_ url: URL) throws -> (shape: [Int], bytes: [UInt8]) {
        try decode(FileBytes.read(url, what: "IDX file"), source: url.path)
    }

    /// Decodes the bytes of an IDX file (raw or gzip); `source` names it in errors.
    public static func decode(_ file: Data, source: String) throws -> (shape: [Int], bytes: [UInt8]) {
        func fail(_ what: String) -> SaneError {
            SaneError("\(what) in IDX file \(source)", hint: "the file is corrupt or not an IDX file; download it again")
        }
        let gzipped = file.starts(with: [0x1F, 0x8B])
        // The header: magic 0x0000, element type, rank, then `rank` big-endian UInt32 dimensions.
        let head = gzipped ? try Inflate.prefix(4 + 4 * 255, of: file, format: .gzip, source: source) : file.prefix(4 + 4 * 255)
        let h = [UInt8](head)
        guard h.count >= 4, h[0] == 0, h[1] == 0 else { throw fail("bad magic number") }
        guard h[2] == 0x08 else { throw fail(String(format: "element type 0x%02x (only unsigned bytes, 0x08, are supported)", h[2])) }
        let rank = Int(h[3]), headerBytes = 4 + 4 * rank
        guard h.count >= headerBytes else { throw fail("header cut short") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(h[4 + 4 * d + $1]) } }
        // The product of the non-zero sizes bounds every partial product, in any order.
        var span = 1
        for n in shape where n > 0 {
            let (c, overflow) = span.multipliedReportingOverflow(by: n)
            guard !overflow, c <= Int(Int32.max) else { throw fail("shape \(shape) is too large") }
            span = c
        }
        let count = shape.contains(0) ? 0 : span
        let expected = headerBytes + count
        let data: Data
        if gzipped {
            let (out, complete) = try Inflate.inflate(file, format: .gzip, upTo: expected, source: source)
            guard complete else { throw fail("more data than the header's shape \(shape) declares (\(count) bytes)") }
            data = out
        } else {
            data = file
        }
        guard data.count == expected else {
            throw fail("shape \(shape) needs \(count) bytes of data, file has \(data.count - headerBytes)")
        }
        return (shape, [UInt8](data.dropFirst(headerBytes)))
    }

    /// Images (IDX [N, H, W] bytes, divided by `maxValue`) and labels (IDX [N]) as a dataset
    /// with one channel. Refused unless images and labels agree in count, there is at least one
    /// image of at least 1×1 pixels, and (when `classes` is given) every label is below it.
    public static func dataset(images: URL, labels: URL, maxValue: Float, classes: Int? = nil) throws -> ImageDataset {
        let (ishape, ibytes) = try read(images)
        let (lshape, lbytes) = try read(labels)
        guard ishape.count == 3, lshape.count == 1, ishape[0] == lshape[0] else {
            throw SaneError("images \(images.path) (shape \(ishape)) and labels \(labels.path) (shape \(lshape)) do not match",
                            hint: "expected images [N, H, W] and labels [N] with the same N")
        }
        guard ishape[0] > 0, ishape[1] > 0, ishape[2] > 0 else {
            throw SaneError("images \(images.path) have shape \(ishape): no images to use", hint: "the dataset file is empty or corrupt")
        }
        if let classes, let bad = lbytes.firstIndex(where: { Int($0) >= classes }) {
            throw SaneError("label \(lbytes[bad]) of example \(bad) in \(labels.path) is not one of the dataset's \(classes) classes (0–\(classes - 1))",
                            hint: "the labels file is corrupt or belongs to another dataset")
        }
        let scale = 1 / maxValue
        let t = Tensor(shape: [ishape[0], 1, ishape[1], ishape[2]]) { p in
            for i in 0..<ibytes.count { p[i] = Float(ibytes[i]) * scale }
        }
        return ImageDataset(images: t, labels: lbytes.map(Int.init))
    }
}

/// An MNIST-style directory of IDX files.
public struct IDXSource: ImageDatasetSource {
    /// The folder holding the files.
    public var directory: URL
    /// The largest pixel value (255 for MNIST, 16 for digits8x8); pixels are divided by it.
    public var maxValue: Float
    /// File names (relative to `directory`) of each split's images and labels.
    public var files: [DatasetSplit: (images: String, labels: String)]
    /// For datasets shipped as one file pair: the fraction that becomes the test split.
    /// Examples are shuffled with CPython's `random.Random(0).shuffle(list(range(n)))`; the
    /// first `Int(n · (1 − testFraction))` are train, the rest test.
    public var testFraction: Double?
    /// The number of classes, when known: labels must be below it.
    public var classes: Int?

    public init(directory: URL, maxValue: Float, files: [DatasetSplit: (images: String, labels: String)], testFraction: Double? = nil,
                classes: Int? = nil) {
        self.directory = directory; self.maxValue = maxValue; self.files = files; self.testFraction = testFraction
        self.classes = classes
    }

    public func load(_ split: DatasetSplit) throws -> ImageDataset {
        if let fraction = testFraction, let all = files[.train] {
            let full = try IDX.dataset(images: directory.appendingPathComponent(all.images),
                                       labels: directory.appendingPathComponent(all.labels), maxValue: maxValue, classes: classes)
            var order = Array(0..<full.count)
            var rng = PythonRandom(seed: 0)
            rng.shuffle(&order)
            let nTrain = Int(Double(full.count) * (1 - fraction))
            guard nTrain > 0, nTrain < full.count else {
                throw SaneError("\(full.count) examples in \(directory.path) are too few to split into train and test",
                                hint: "the dataset files are truncated or corrupt")
            }
            return full.subset(Array(split == .train ? order[..<nTrain] : order[nTrain...]))
        }
        guard let f = files[split] else { throw SaneError("no \(split.rawValue) split in \(directory.path)") }
        return try IDX.dataset(images: directory.appendingPathComponent(f.images),
                               labels: directory.appendingPathComponent(f.labels), maxValue: maxValue, classes: classes)
    }
}

// MARK: - Named datasets and the data directory

/// The datasets Sane knows by name (`dataset::name` in a zoo's params.json).
public enum NamedDataset: String, CaseIterable, Sendable {
    case mnist
    case fashionMNIST = "fashion-mnist"
    /// scikit-learn's 1,797 8×8 digits (values 0–16), one file pair, split 80/20 by us.
    case digits8x8
    /// CIFAR-10 as JPEG (quality 75) in one .tar.gz, 3 channels, 32×32 (lossy; see CIFAR10.swift).
    case cifar10

    /// The source for this dataset's files in `directory` (the dataset's own folder).
    public func source(in directory: URL) -> ImageDatasetSource {
        switch self {
        case .mnist, .fashionMNIST:
            return IDXSource(directory: directory, maxValue: 255, files: [
                .train: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                .test: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            ], classes: 10)
        case .digits8x8:
            return IDXSource(directory: directory, maxValue: 16,
                             files: [.train: ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")], testFraction: 0.2, classes: 10)
        case .cifar10:
            return CIFAR10JPEGSource(directory: directory)
        }
    }

    /// Loads a split, finding the data directory as `DataDirectory.locate` does.
    public func load(_ split: DatasetSplit, dataDirectory: String? = nil) throws -> ImageDataset {
        try source(in: DataDirectory.locate(rawValue, explicit: dataDirectory)).load(split)
    }
}

extension ImageDataset {
    /// Loads a named dataset's split ("mnist", "fashion-mnist", "digits8x8", "cifar10").
    public static func load(_ name: String, split: DatasetSplit, dataDirectory: String? = nil) throws -> ImageDataset {
        guard let dataset = NamedDataset(rawValue: name) else {
            throw SaneError("unknown dataset \"\(name)\"",
                            hint: "known datasets: \(NamedDataset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return try dataset.load(split, dataDirectory: dataDirectory)
    }
}

/// Where datasets live: a root folder holding one folder per dataset (`<root>/mnist/...`).
public enum DataDirectory {
    /// The roots searched, in order: `explicit`, else `$SANE_DATA`, else `./data`,
    /// `../shared/data`, `~/.sane/data`.
    public static func candidates(explicit: String?) -> [URL] {
        if let explicit { return [URL(fileURLWithPath: explicit)] }
        if let env = ProcessInfo.processInfo.environment["SANE_DATA"], !env.isEmpty { return [URL(fileURLWithPath: env)] }
        let home = FileManager.default.homeDirectoryForCurrentUser
        return [URL(fileURLWithPath: "data"), URL(fileURLWithPath: "../shared/data"),
                home.appendingPathComponent(".sane/data")]
    }

    /// The folder of dataset `name`: the first candidate root that has a `name` subfolder.
    public static func locate(_ name: String, explicit: String? = nil) throws -> URL {
        let roots = candidates(explicit: explicit)
        for root in roots {
            let dir = root.appendingPathComponent(name)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue {
                return dir.standardizedFileURL
            }
        }
        throw SaneError("dataset \(name) not found; looked in \(roots.map { $0.appendingPathComponent(name).path }.joined(separator: ", "))",
                        hint: "pass --data DIR (\"data_dir\" in a zoo config), or set SANE_DATA, to a folder containing \(name)/")
    }
}
