// The tensor core's data type: a dense, row-major Float32 array with value semantics.
//
// Shape legend used in comments across the project:
//   B batch, T tokens (window), C channels / model width, H heads, D head size,
//   N rows (flattened leading dims), K reduced dimension, M output features.

/// Heap storage of a tensor: one 64-byte aligned Float32 buffer (large ones recycled through
/// `BufferCache`) on a device, or a view into a `FlatBuffer` (a parameter, gradient or moment
/// slot of `FlatParameters`). Only host (`.cpu`) storage exists so far; a device backend adds
/// its allocation here (Documentation/AddingABackend.md).
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    /// The elements. Changes only when `detachFromArena()` moves a view into memory of its own.
    public private(set) var pointer: UnsafeMutablePointer<Float>
    /// The flat buffer this storage is a view into (kept alive by the view), or nil when the
    /// storage owns its memory.
    private(set) var arena: FlatBuffer?
    /// Where the buffer lives.
    public let device: Device = .cpu
    /// False: on release the buffer goes back to malloc, not to `BufferCache` (a parameter's
    /// buffer replaced by its flat-buffer view would otherwise sit in the cache for good).
    var recycles = true

    /// Uninitialized storage of `count` floats.
    public init(uninitializedCount count: Int) {
        self.count = count
        pointer = TensorStorage.allocate(count)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(count, 1) * 4
        let raw = BufferCache.take(bytes) ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// A view of `count` floats of `arena` from `offset`.
    init(view arena: FlatBuffer, offset: Int, count: Int) {
        precondition(offset >= 0 && offset + count <= arena.count, "view \(offset)..<\(offset + count) outside a flat buffer of \(arena.count)")
        self.count = count
        self.arena = arena
        pointer = arena.pointer + offset
    }

    deinit {
        guard arena == nil else { return }
        let raw = UnsafeMutableRawPointer(pointer)
        if !recycles || !BufferCache.give(raw, bytes: max(count, 1) * 4) { raw.deallocate() }
    }

    @usableFromInline func copy() -> TensorStorage {
        let s = TensorStorage(uninitializedCount: count)
        s.pointer.update(from: pointer, count: count)
        return s
    }

    /// Moves a view's elements into memory of its own, leaving the arena slot to its flat buffer.
    /// `FlatParameters` calls it before writing a slot in place that a tensor other than its
    /// parameter still holds (a state-dict snapshot, a captured value): those holders keep the
    /// values they had, as copy-on-write promises.
    func detachFromArena() {
        guard arena != nil else { return }
        let own = TensorStorage.allocate(count)
        own.update(from: pointer, count: count)
        pointer = own
        arena = nil
    }
}

/// A dense row-major Float32 tensor. Copying a `Tensor` is cheap; the buffer is copied on the
/// first write to a shared copy (copy-on-write).
///
/// Element access comes in two kinds, the two sides of the backend seam
/// (Documentation/AddingABackend.md):
/// - **device side** — `readPointer`, `writePointer()` and the pointer `init(shape:filling:)`
///   passes are the buffer on the tensor's `device`, what ops hand to their `Backend`. Only
///   SaneTensor (ops, optimizers) uses them.
/// - **host side** — the named set domain code (`Sources/Sane`, the CLI) uses to read and write
///   element values on the host: `scalars` and `init(shape:scalars:)` (copy out / in),
///   `withHostBuffer` (read), `withMutableHostBuffer` (read and write in place),
///   `init(hostShape:filling:)` (a new tensor written on the host), and `scalar`, the
///   subscript, `hasNonFinite`, `maxAbs`. On the CPU backend they are the buffer itself, at no
///   cost; on a device-memory backend each would copy from the device to the host (and
///   back, for the writing ones) — so domain code never holds a device pointer.
///   Moving rows between tensors needs no host access: `rows(_:)`, `stacked(_:)` and
///   `concatenated(_:)` (Ops/Shape.swift) run on the backend.
public struct Tensor: @unchecked Sendable {
    /// Dimensions, outermost first. A scalar has shape `[]`.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// Number of elements (product of `shape`).
    public var count: Int { storage.count }
    /// Where the elements live (`.cpu`: host memory).
    public var device: Device { storage.device }
    public var rank: Int { shape.count }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, repeating: 0)
    }

    /// A tensor with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        let n = Tensor.elementCount(shape)
        storage = TensorStorage(uninitializedCount: n)
        storage.pointer.initialize(repeating: value, count: n)
        self.shape = shape
    }

    /// A tensor holding `scalars` (row-major) with the given shape.
    public init(shape: [Int], scalars: [Float]) {
        precondition(Tensor.elementCount(shape) == scalars.count,
                     "Tensor(shape: \(shape)) needs \(Tensor.elementCount(shape)) scalars, got \(scalars.count)")
        let s = TensorStorage(uninitializedCount: scalars.count)
        scalars.withUnsafeBufferPointer { if let b = $0.baseAddress { s.pointer.update(from: b, count: scalars.count) } }
        storage = s
        self.shape = shape
    }

    /// A scalar tensor (shape `[]`).
    public init(_ scalar: Float) { self.init(shape: [], scalars: [scalar]) }

    /// A tensor over existing storage (a flat-buffer view).
    init(storage: TensorStorage, shape: [Int]) {
        precondition(Tensor.elementCount(shape) == storage.count, "shape \(shape) does not fit storage of \(storage.count)")
        self.storage = storage
        self.shape = shape
    }

    /// A tensor whose elements are not initialized; every element must be written before it is read.
    public init(uninitialized shape: [Int]) {
        storage = TensorStorage(uninitializedCount: Tensor.elementCount(shape))
        self.shape = shape
    }

    /// A tensor filled by `body(pointer)`, which must write all `count` elements.
    public init(shape: [Int], filling body: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        self.init(uninitialized: shape)
        try body(storage.pointer)
    }

    @inlinable public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape { precondition(d >= 0, "negative dimension in shape \(shape)"); n *= d }
        return n
    }

    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar needs a one-element tensor, shape is \(shape)")
        return storage.pointer[0]
    }

    /// Host side: reads the elements on the host through `body` (row-major, `count` elements).
    @inlinable public func withHostBuffer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Host side: reads and writes the elements on the host through `body` (copies the buffer
    /// first if it is shared).
    @inlinable public mutating func withMutableHostBuffer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Host side: a tensor whose elements `body` writes on the host; it must write all `count`.
    public init(hostShape shape: [Int], filling body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(uninitialized: shape)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The buffer on `device`, for kernels that read. Valid while `self` is alive.
    @inlinable public var readPointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// The buffer on `device`, for kernels that write, after making the storage unique.
    @inlinable public mutating func writePointer() -> UnsafeMutablePointer<Float> {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage.pointer
    }

    /// The same elements with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let i = newShape.firstIndex(of: -1) {
            let rest = newShape.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(rest > 0 && count % rest == 0, "cannot reshape \(shape) to \(newShape)")
            newShape[i] = count / rest
        }
        precondition(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        var t = self
        t.shape = newShape
        return t
    }

    /// Element at a multi-index (slow; for tests and small code paths).
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[flatIndex(index)] }
        set { let i = flatIndex(index); writePointer()[i] = newValue }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) { precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)"); flat = flat * d + i }
        return flat
    }

    /// Row-major strides of a shape.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// True when any element is NaN or ±Inf.
    public var hasNonFinite: Bool {
        withHostBuffer { b in b.contains { !$0.isFinite } }
    }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float {
        withHostBuffer { b in b.reduce(0) { max($0, abs($1)) } }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

import Foundation
