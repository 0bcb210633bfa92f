import XCTest
@testable import SaneAnalysis

final class TableTests: XCTestCase {
    let table = Table(header: ["method", "R² acc", "epoch"],
                      rows: [["W", "0.965", "0.953"], ["s(W)", "0.987", "−0.038"], ["SANE", "0.978 ± 0.004", "0.958"]])

    func testMarkdown() {
        XCTAssertEqual(table.markdown, """
        | method |        R² acc |  epoch |
        | ------ | ------------: | -----: |
        | W      |         0.965 |  0.953 |
        | s(W)   |         0.987 | −0.038 |
        | SANE   | 0.978 ± 0.004 |  0.958 |

        """)
    }

    func testPlainText() {
        XCTAssertEqual(table.plainText, """
        method         R² acc   epoch
        ------  -------------  ------
        W               0.965   0.953
        s(W)            0.987  −0.038
        SANE    0.978 ± 0.004   0.958

        """)
    }

    func testMeanPlusMinusStd() {
        XCTAssertEqual(Table.meanPlusMinusStd([1, 2, 3], decimals: 2), "2.00 ± 0.82")
        XCTAssertEqual(Table.meanPlusMinusStd(mean: 0.97812, std: 0.0041), "0.978 ± 0.004")
    }
}
