import Foundation

/// A table of strings rendered as aligned Markdown or as plain text for terminals.
///
/// Columns whose body cells all look numeric (start with a digit, sign, "." or "−", or are empty)
/// are right-aligned unless alignments are given.
public struct Table: Sendable {
    public enum Alignment: Sendable { case left, right }

    public var header: [String]
    public var rows: [[String]]
    public var alignments: [Alignment]

    public init(header: [String], rows: [[String]], alignments: [Alignment]? = nil) {
        precondition(rows.allSatisfy { $0.count == header.count },
                     "Table: every row needs \(header.count) cells")
        precondition(alignments.map { $0.count == header.count } ?? true, "Table: one alignment per column")
        self.header = header
        self.rows = rows
        self.alignments = alignments ?? header.indices.map { column in
            rows.allSatisfy { Table.looksNumeric($0[column]) } && !rows.isEmpty ? .right : .left
        }
    }

    /// GitHub-flavoured Markdown with padded cells and `---:` markers for right-aligned columns;
    /// "|" inside cells is escaped.
    public var markdown: String {
        func escape(_ cells: [String]) -> [String] { cells.map { $0.replacingOccurrences(of: "|", with: "\\|") } }
        let header = escape(self.header), rows = self.rows.map(escape)
        let widths = columnWidths(header: header, rows: rows, minimum: 3)
        var lines = [markdownRow(header, widths: widths)]
        let rule = widths.indices.map { column in
            alignments[column] == .right ? String(repeating: "-", count: widths[column] - 1) + ":"
                : String(repeating: "-", count: widths[column])
        }
        lines.append("| " + rule.joined(separator: " | ") + " |")
        lines += rows.map { markdownRow($0, widths: widths) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Plain text: columns separated by two spaces, a dashed rule under the header.
    public var plainText: String {
        let widths = columnWidths(header: header, rows: rows, minimum: 1)
        func line(_ cells: [String]) -> String {
            cells.indices.map { pad(cells[$0], to: widths[$0], alignment: alignments[$0]) }
                .joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// "mean ± std" with a fixed number of decimals, e.g. `0.978 ± 0.004`.
    public static func meanPlusMinusStd(mean: Double, std: Double, decimals: Int = 3) -> String {
        String(format: "%.\(decimals)f ± %.\(decimals)f", mean, std)
    }

    /// "mean ± std" of a sample (population standard deviation, 1/n); a single value gets ± 0.
    public static func meanPlusMinusStd(_ values: [Double], decimals: Int = 3) -> String {
        let (mean, std) = meanAndStandardDeviation(values)
        return meanPlusMinusStd(mean: mean, std: std, decimals: decimals)
    }

    /// Mean and population standard deviation √(1/n Σ (x − x̄)²).
    public static func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, std: Double) {
        precondition(!values.isEmpty, "Table.meanAndStandardDeviation: no values")
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        return (mean, variance.squareRoot())
    }

    // MARK: Internals

    static func looksNumeric(_ cell: String) -> Bool {
        guard let first = cell.first else { return true }
        return first.isNumber || "+-−.".contains(first)
    }

    func columnWidths(header: [String], rows: [[String]], minimum: Int) -> [Int] {
        header.indices.map { column in
            ([header[column]] + rows.map { $0[column] }).map(\.count).max().map { max($0, minimum) } ?? minimum
        }
    }

    func pad(_ cell: String, to width: Int, alignment: Alignment) -> String {
        let padding = String(repeating: " ", count: width - cell.count)
        return alignment == .right ? padding + cell : cell + padding
    }

    func markdownRow(_ cells: [String], widths: [Int]) -> String {
        "| " + cells.indices.map { pad(cells[$0], to: widths[$0], alignment: alignments[$0]) }
            .joined(separator: " | ") + " |"
    }
}
