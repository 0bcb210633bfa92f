// A restricted unpickler: reads the subset of Python's pickle format (protocols 2–5) that a
// PyTorch state_dict uses, and nothing else.
//
// A pickle is a program for a stack machine; `GLOBAL` + `REDUCE` can call any Python function,
// which is why loading untrusted pickles is dangerous. Here every global is checked against a
// short allow-list (`PickleGlobal`) and "calling" one only builds a plain value: no code runs.
// Anything outside the list is refused with "unknown pickle global".
//
// Reference: CPython Lib/pickle.py and Lib/pickletools.py (opcode table).

import Foundation
import SaneTensor

/// The Python objects a state_dict pickle can build. Lists and dicts are reference types
/// because pickles fill them *after* storing them in the memo.
///
/// Containers carry their nesting depth (a scalar is 0, a container 1 + its deepest child), so
/// the unpickler can refuse deep nesting while building it: tearing down a value nested
/// tens of thousands of levels deep would overflow the call stack.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed global, not yet called.
    case global(PickleGlobal)
    /// A storage from a persistent id `('storage', StorageType, key, location, numel)`.
    case storage(TorchStorageRef)
    /// A tensor from `_rebuild_tensor_v2`: a strided view of a storage.
    case tensor(TorchTensorRef)
}

final class PickleList {
    var items: [PickleValue] = []
    /// 1 + the depth of the deepest item.
    var depth = 1
    /// Whether the list sits inside another container; it may then no longer grow deeper.
    var nested = false
}

/// A dict (or OrderedDict) with its insertion order.
final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)] = []
    /// 1 + the depth of the deepest key or value.
    var depth = 1
    /// Whether the dict sits inside another container; it may then no longer grow deeper.
    var nested = false

    /// The value for a string key (pickle dicts in state_dicts have string keys).
    subscript(key: String) -> PickleValue? {
        items.first { if case .string(key) = $0.key { true } else { false } }?.value
    }
}

/// Torch storage classes (`torch.FloatStorage`, ...) and the element type they hold.
enum TorchDType: String, CaseIterable {
    case float = "FloatStorage", double = "DoubleStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage"
    case byte = "ByteStorage", bool = "BoolStorage"

    var scalarType: StoredScalarType {
        switch self {
        case .float: .float32
        case .double: .float64
        case .half: .float16
        case .bfloat16: .bfloat16
        case .long: .int64
        case .int: .int32
        case .short: .int16
        case .char: .int8
        case .byte: .uint8
        case .bool: .bool
        }
    }
}

/// The globals a state_dict pickle may name. Everything else is refused.
enum PickleGlobal {
    case orderedDict
    case rebuildTensorV2
    case rebuildParameter
    case rebuildParameterWithState
    case storageType(TorchDType)

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", _):
            guard let t = TorchDType(rawValue: name) else { return nil }
            self = .storageType(t)
        default: return nil
        }
    }
}

/// A storage named by a persistent id: its bytes live in the archive entry `data/<key>`.
struct TorchStorageRef {
    var dtype: TorchDType
    var key: String
    var count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: `size` and `stride` (in elements) over a
/// storage starting at `offset`.
struct TorchTensorRef {
    var storage: TorchStorageRef
    var offset: Int
    var size: [Int]
    var stride: [Int]
}

/// The stack machine. `source` names the file in errors.
///
/// Bounded: nesting deeper than `maxDepth`, a stack over `maxStack` values or a memo over
/// `maxMemo` entries is refused. A list or dict may not grow deeper once it is inside another
/// container, which refuses recursive structures (never part of a state_dict) and keeps every
/// stored depth exact. Everything else the pickle builds is proportional to its length.
struct Unpickler {
    static let maxDepth = 100
    static let maxStack = 1 << 20
    static let maxMemo = 1 << 20

    private let bytes: [UInt8]
    private let source: String
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    private func fail(_ what: String) -> SaneError {
        SaneError("\(what) at byte \(pos) of pickle in \(source)", hint: "the checkpoint is corrupt or not a PyTorch state_dict")
    }

    // MARK: reading the byte stream

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else { throw fail("pickle ends early (needs \(n) more bytes)") }
        defer { pos += n }
        return bytes[pos..<pos + n]
    }

    /// An unsigned little-endian integer of `n` ≤ 8 bytes.
    private mutating func uint(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (k, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
        return v
    }

    /// A length prefix of `n` bytes, checked against what is left of the stream.
    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count - pos) else { throw fail("length \(v) runs past the end of the pickle") }
        return Int(v)
    }

    private mutating func line() throws -> String {
        guard let end = bytes[pos...].firstIndex(of: 0x0A) else { throw fail("unterminated text line") }
        let s = String(decoding: bytes[pos..<end], as: UTF8.self)
        pos = end + 1
        return s
    }

    private mutating func utf8(_ n: Int) throws -> String {
        guard let s = String(validating: try take(n), as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    // MARK: the stack

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail("pickle stack underflow") }
        return v
    }

    /// Everything pushed since the last MARK, removing the mark.
    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("pickle MARK missing") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    private mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw fail("pickle stack underflow") }
        return v
    }

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        guard let g = PickleGlobal(module: module, name: name) else {
            throw SaneError("unknown pickle global \(module).\(name) in \(source)",
                            hint: "only state_dicts of tensors can be read; re-save with torch.save(model.state_dict()) or as safetensors")
        }
        return .global(g)
    }

    private func memoKey(_ v: UInt64) -> Int { Int(truncatingIfNeeded: v) }

    private mutating func put(_ key: Int) throws {
        guard memo.count < Unpickler.maxMemo || memo[key] != nil else {
            throw fail("pickle memo exceeds \(Unpickler.maxMemo) entries")
        }
        memo[key] = try top()
    }

    // MARK: nesting

    /// The depth `v` adds to a container holding it. A list or dict is marked as nested.
    private func depth(of v: PickleValue) -> Int {
        switch v {
        case .tuple(_, let d): return d
        case .list(let l): l.nested = true; return l.depth
        case .dict(let d): d.nested = true; return d.depth
        default: return 0
        }
    }

    /// 1 + the deepest of `children`, refused beyond `maxDepth`.
    private func containerDepth(_ children: [PickleValue]) throws -> Int {
        var d = 0
        for c in children { d = max(d, depth(of: c)) }
        guard d < Unpickler.maxDepth else {
            throw fail("pickle nests containers deeper than \(Unpickler.maxDepth) levels")
        }
        return d + 1
    }

    private func tuple(_ items: [PickleValue]) throws -> PickleValue {
        .tuple(items, depth: try containerDepth(items))
    }

    /// The depth of a list or dict of `depth` after it receives `children`. Refused when it
    /// would grow deeper while `nested()` (read after the children, which may include itself).
    private func grownDepth(_ depth: Int, _ nested: () -> Bool, with children: [PickleValue]) throws -> Int {
        let d = try containerDepth(children)
        guard d > depth else { return depth }
        guard !nested() else {
            throw fail("a list or dict grows deeper after being placed in another container (recursive structures are not supported)")
        }
        return d
    }

    // MARK: running

    /// Runs the pickle to its STOP and returns the result.
    mutating func load() throws -> PickleValue {
        while true {
            guard stack.count <= Unpickler.maxStack, marks.count <= Unpickler.maxStack else {
                throw fail("pickle stack exceeds \(Unpickler.maxStack) values")
            }
            guard let op = try take(1).first else { throw fail("pickle ends early") }
            switch op {
            case 0x80: _ = try take(1)                                    // PROTO
            case 0x95: _ = try take(8)                                    // FRAME (a length hint only)
            case 0x2E: return try pop()                                   // STOP
            case 0x28: marks.append(stack.count)                          // MARK
            case 0x7D: stack.append(.dict(PickleDict()))                  // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                  // EMPTY_LIST
            case 0x29: stack.append(.tuple([], depth: 1))                 // EMPTY_TUPLE
            case 0x4E: stack.append(.none)                                // NONE
            case 0x88: stack.append(.bool(true))                          // NEWTRUE
            case 0x89: stack.append(.bool(false))                         // NEWFALSE
            case 0x58: stack.append(.string(try utf8(try length(4))))     // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try length(1))))     // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try length(8))))     // BINUNICODE8
            case 0x42: stack.append(.bytes(Array(try take(try length(4)))))   // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(try length(1)))))   // SHORT_BINBYTES
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: stack.append(.int(Int(try uint(1))))               // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2))))               // BININT2
            case 0x8A:                                                    // LONG1: n-byte two's complement
                let n = try length(1)
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
                let raw = try uint(n)
                let value = n == 0 ? 0 : Int64(bitPattern: raw << (64 - 8 * UInt64(n))) >> (64 - 8 * Int64(n))
                stack.append(.int(Int(value)))
            case 0x47:                                                    // BINFLOAT: big-endian double
                let b = try take(8)
                stack.append(.float(Double(bitPattern: b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
            case 0x74: stack.append(try tuple(try popMark()))             // TUPLE
            case 0x85: let a = try pop(); stack.append(try tuple([a]))    // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(try tuple([a, b]))      // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(try tuple([a, b, c]))  // TUPLE3
            case 0x63:                                                    // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:                                                    // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(module, name))
            case 0x52:                                                    // REDUCE: callable(*args)
                let args = try pop(), callable = try pop()
                stack.append(try call(callable, args))
            case 0x81:                                                    // NEWOBJ: cls.__new__(cls, *args)
                let args = try pop(), cls = try pop()
                guard case .global(.orderedDict) = cls else { throw fail("NEWOBJ of an unsupported class") }
                stack.append(try call(cls, args))
            case 0x62: _ = try pop(); _ = try top()                       // BUILD: attributes are not kept
            case 0x51: stack.append(try persistentLoad(try pop()))        // BINPERSID
            case 0x73:                                                    // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = try top() else { throw fail("SETITEM on a non-dict") }
                d.depth = try grownDepth(d.depth, { d.nested }, with: [k, v])
                d.items.append((k, v))
            case 0x75:                                                    // SETITEMS
                let kv = try popMark()
                guard case .dict(let d) = try top(), kv.count % 2 == 0 else { throw fail("SETITEMS on a non-dict") }
                d.depth = try grownDepth(d.depth, { d.nested }, with: kv)
                for i in stride(from: 0, to: kv.count, by: 2) { d.items.append((kv[i], kv[i + 1])) }
            case 0x61:                                                    // APPEND
                let v = try pop()
                guard case .list(let l) = try top() else { throw fail("APPEND on a non-list") }
                l.depth = try grownDepth(l.depth, { l.nested }, with: [v])
                l.items.append(v)
            case 0x65:                                                    // APPENDS
                let vs = try popMark()
                guard case .list(let l) = try top() else { throw fail("APPENDS on a non-list") }
                l.depth = try grownDepth(l.depth, { l.nested }, with: vs)
                l.items.append(contentsOf: vs)
            case 0x71: try put(memoKey(try uint(1)))                      // BINPUT
            case 0x72: try put(memoKey(try uint(4)))                      // LONG_BINPUT
            case 0x70:                                                    // PUT (decimal)
                guard let k = Int(try line()) else { throw fail("bad PUT index") }
                try put(k)
            case 0x94: try put(memo.count)                                // MEMOIZE
            case 0x68: stack.append(try memoGet(memoKey(try uint(1))))    // BINGET
            case 0x6A: stack.append(try memoGet(memoKey(try uint(4))))    // LONG_BINGET
            case 0x67:                                                    // GET (decimal)
                guard let k = Int(try line()) else { throw fail("bad GET index") }
                stack.append(try memoGet(k))
            case 0x30: _ = try pop()                                      // POP
            case 0x31: _ = try popMark()                                  // POP_MARK
            case 0x32: stack.append(try top())                            // DUP
            default:
                pos -= 1
                throw fail(String(format: "unsupported pickle opcode 0x%02x", op))
            }
        }
    }

    private func memoGet(_ k: Int) throws -> PickleValue {
        guard let v = memo[k] else { throw fail("pickle memo entry \(k) missing") }
        return v
    }

    /// Builds the value an allowed global returns for `args`. Nothing is executed.
    private func call(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let g) = callable, case .tuple(let a, _) = args else { throw fail("REDUCE of a non-callable") }
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw fail("OrderedDict with arguments") }
            return .dict(PickleDict())
        case .rebuildTensorV2:
            // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard a.count >= 4, case .storage(let s) = a[0], case .int(let offset) = a[1],
                  let size = Unpickler.ints(a[2]), let stride = Unpickler.ints(a[3]), size.count == stride.count
            else { throw fail("malformed _rebuild_tensor_v2 arguments") }
            return .tensor(TorchTensorRef(storage: s, offset: offset, size: size, stride: stride))
        case .rebuildParameter, .rebuildParameterWithState:
            // _rebuild_parameter(data, requires_grad, backward_hooks[, state]) is just its data here.
            guard let data = a.first, case .tensor = data else { throw fail("malformed _rebuild_parameter arguments") }
            return data
        case .storageType:
            throw fail("storage types cannot be called")
        }
    }

    private static func ints(_ v: PickleValue) -> [Int]? {
        guard case .tuple(let items, _) = v else { return nil }
        var out: [Int] = []
        for item in items { guard case .int(let x) = item else { return nil }; out.append(x) }
        return out
    }

    /// Resolves a persistent id `('storage', StorageType, key, location, numel)`.
    private func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t, _) = pid, t.count == 5, case .string("storage") = t[0],
              case .global(.storageType(let dtype)) = t[1], case .string(let key) = t[2], case .int(let count) = t[4], count >= 0
        else { throw fail("unsupported persistent id (expected a torch storage)") }
        return .storage(TorchStorageRef(dtype: dtype, key: key, count: count))
    }
}
