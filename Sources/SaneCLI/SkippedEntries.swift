import Foundation
import Sane

/// Tells the user what a zoo listing left out (count and reasons, on stderr): at most `shown`
/// entries, then how many more.
func reportSkipped(_ zoo: Zoo, shown: Int = 5) {
    guard !zoo.skipped.isEmpty else { return }
    let list = zoo.skipped.prefix(shown).map(\.description).joined(separator: "; ")
    let more = zoo.skipped.count > shown ? "; and \(zoo.skipped.count - shown) more (all: sane zoo info \(zoo.directory.path) --json)" : ""
    diagnostic("warning: zoo \(zoo.directory.path): skipped \(zoo.skipped.count) entr\(zoo.skipped.count == 1 ? "y" : "ies"): \(list)\(more)")
}
