/// The one error type of Sane: a one-line message saying what went wrong and where, plus an
/// optional hint saying what to do about it.
///
///     throw SaneError("truncated safetensors header in runs/a.safetensors",
///                     hint: "the file was probably cut short while copying")
public struct SaneError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong and where (file, key, byte offset), one line.
    public var message: String
    /// What the user can do about it, if we know.
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { " (hint: \($0))" } ?? "") }
}
