import Foundation
import SaneData
import SaneTensor

/// The datasets compiled into the `sane` binary (today: the 8×8 digits, 52 KB), so the demo needs
/// no data files and no downloads.
public enum EmbeddedData {
    /// Writes the embedded datasets as a data root (`ROOT/digits8x8/*.gz`) under `directory`
    /// and returns the root, for every API that takes a data directory.
    public static func materialize(in directory: URL) throws -> URL {
        let dir = directory.appendingPathComponent("digits8x8")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, chunks) in [("images-idx3-ubyte.gz", EmbeddedDigits.images), ("labels-idx1-ubyte.gz", EmbeddedDigits.labels)] {
            guard let data = Data(base64Encoded: chunks.joined()) else { throw SaneError("embedded \(name) is corrupt") }
            try AtomicFile.write(data, to: dir.appendingPathComponent(name))
        }
        return directory
    }
}
