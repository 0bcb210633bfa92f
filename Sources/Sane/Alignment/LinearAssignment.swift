/// The linear assignment problem: match n rows to n columns one-to-one, maximizing
///
///     Σ_i profit[i, σ(i)]   over permutations σ.
///
/// Solved exactly by the Hungarian method in its shortest-augmenting-path form (Kuhn–Munkres
/// with dual potentials, the scheme of Jonker & Volgenant 1987): rows are added one at a time,
/// each by a Dijkstra-like search for the cheapest augmenting path on reduced costs. O(n³)
/// time, O(n) extra memory. Used by weight matching (Ainsworth et al., "Git Re-Basin", 2023).
public enum LinearAssignment {
    /// The assignment maximizing the total profit.
    /// - Parameters:
    ///   - profit: `[n·n]`, row-major; `profit[i·n + j]` is the gain of giving column j to row i.
    ///     Must be finite.
    ///   - size: n.
    /// - Returns: `assignment[i]` = the column given to row i (a permutation of 0..<n).
    public static func maximize(_ profit: [Double], size n: Int) -> [Int] {
        precondition(profit.count == n * n, "profit matrix needs \(n)·\(n) entries, got \(profit.count)")
        precondition(profit.allSatisfy(\.isFinite), "profit matrix must be finite")
        if n == 0 { return [] }
        // Minimize cost = −profit. Indices 1…n are rows/columns; column 0 is a virtual start.
        var rowPotential = [Double](repeating: 0, count: n + 1)         // u
        var columnPotential = [Double](repeating: 0, count: n + 1)      // v
        var rowOfColumn = [Int](repeating: 0, count: n + 1)             // p: row matched to column j (0 = free)
        var previousColumn = [Int](repeating: 0, count: n + 1)          // the path back to column 0
        var minimumSlack = [Double](repeating: 0, count: n + 1)
        var visited = [Bool](repeating: false, count: n + 1)
        for row in 1...n {
            rowOfColumn[0] = row
            var column = 0
            for j in 0...n { minimumSlack[j] = .infinity; visited[j] = false }
            repeat {
                visited[column] = true
                let i = rowOfColumn[column]
                var delta = Double.infinity
                var nextColumn = 0
                for j in 1...n where !visited[j] {
                    let reduced = -profit[(i - 1) * n + (j - 1)] - rowPotential[i] - columnPotential[j]
                    if reduced < minimumSlack[j] { minimumSlack[j] = reduced; previousColumn[j] = column }
                    if minimumSlack[j] < delta { delta = minimumSlack[j]; nextColumn = j }
                }
                for j in 0...n {
                    if visited[j] {
                        rowPotential[rowOfColumn[j]] += delta
                        columnPotential[j] -= delta
                    } else {
                        minimumSlack[j] -= delta
                    }
                }
                column = nextColumn
            } while rowOfColumn[column] != 0
            repeat {                                                    // augment along the path
                let previous = previousColumn[column]
                rowOfColumn[column] = rowOfColumn[previous]
                column = previous
            } while column != 0
        }
        var assignment = [Int](repeating: 0, count: n)
        for j in 1...n { assignment[rowOfColumn[j] - 1] = j - 1 }
        return assignment
    }
}
