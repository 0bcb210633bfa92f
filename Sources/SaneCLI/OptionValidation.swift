import ArgumentParser
import Foundation
import Sane

// Shared checks of numeric command-line options, used by the commands' `validate()`: every
// number is checked before any work starts and refused with one line naming the option.

/// Largest epoch number accepted in an epoch selection (zoos have tens of epochs).
let epochLimit = 100_000

/// Throws unless `value` (of option `name`, when given) lies in `range`.
func check(_ name: String, _ value: Int?, in range: ClosedRange<Int>) throws {
    guard let value else { return }
    guard range.contains(value) else {
        let rule = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
        throw ValidationError("\(name) \(value) is out of range: use a whole number \(rule)")
    }
}

/// Runs a library validation layer, reporting its `SaneError` as a usage error.
func validating(_ body: () throws -> Void) throws {
    do { try body() } catch let error as SaneError { throw ValidationError(error.description) }
}

/// Parses an epoch selection: ranges and single epochs, comma-separated ("0-5", "0,5,10",
/// "0-2,10"), each epoch in 0…`epochLimit`; returns them ascending without duplicates.
func parseEpochs(_ text: String, option: String = "--epochs") throws -> [Int] {
    var epochs = Set<Int>()
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil, low <= high else {
            throw ValidationError("\(option) '\(text)': use epochs 0…\(epochLimit) as a range like 0-5, a list like 0,5,10, or both (0-2,10)")
        }
        guard low >= 0 && high <= epochLimit else {
            throw ValidationError("\(option) '\(text)': epochs must lie in 0…\(epochLimit)")
        }
        epochs.formUnion(low...high)
    }
    return epochs.sorted()
}
