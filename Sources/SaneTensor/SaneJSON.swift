import Foundation

/// The one JSON setup for everything Sane writes (reports, manifests, run logs, `--json` lines)
/// and reads back: keys sorted (stable diffs, byte-identical reruns), slashes unescaped (paths
/// stay readable), and non-finite numbers as the strings "nan", "inf", "-inf" (JSON has none; an
/// R² of a constant target is NaN, not an encoding error).
public enum SaneJSON {
    /// `pretty`: indented, one member per line (files people read); otherwise one line.
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The decoder that reads what `encoder` writes.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    public static func encode<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        try encoder(pretty: pretty).encode(value)
    }

    /// Writes `value` to `url` atomically (`AtomicFile`).
    public static func write<T: Encodable>(_ value: T, to url: URL, pretty: Bool = true) throws {
        try AtomicFile.write(encode(value, pretty: pretty), to: url)
    }
}
