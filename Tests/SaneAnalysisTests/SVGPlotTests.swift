import XCTest
@testable import SaneAnalysis
#if canImport(FoundationXML)
import FoundationXML
#endif

final class SVGPlotTests: XCTestCase {
    func assertWellFormed(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try XMLDocument(xmlString: svg, options: []), file: file, line: line)
    }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func testScatterPlot() throws {
        let first = PlotSeries(name: "SANE", x: [0.1, 0.5, 0.9], y: [0.12, 0.48, 0.95])
        let second = PlotSeries(name: "s(W) <baseline> & more", x: [0.2, 0.6], y: [0.25, .nan])
        let svg = SVGPlot.scatter(series: [first, second], title: "Test accuracy", xLabel: "true", yLabel: "predicted")
        assertWellFormed(svg)
        XCTAssertEqual(count("class=\"point\"", in: svg), 4, "the NaN point is skipped")
        XCTAssertEqual(count("class=\"identity\"", in: svg), 1)
        XCTAssertTrue(svg.contains("font-family=\"sans-serif\""))
        XCTAssertTrue(svg.contains("s(W) &lt;baseline&gt; &amp; more"))
        let document = try XMLDocument(xmlString: svg, options: [])
        XCTAssertEqual(try document.nodes(forXPath: "//*[local-name()='circle' and @class='point']").count, 4)
    }

    func testLinePlotWithBandsAndLogAxis() throws {
        let epochs = (0..<10).map(Double.init)
        let loss = PlotSeries(name: "train", x: epochs, y: epochs.map { 2 * exp(-$0 / 3) })
        let validation = PlotSeries(name: "validation", x: epochs, y: epochs.map { 2.2 * exp(-$0 / 4) },
                                    spread: epochs.map { 0.1 * exp(-$0 / 4) })
        let svg = SVGPlot.lines(series: [loss, validation], title: "Loss", xLabel: "epoch", yLabel: "loss",
                                logarithmicY: true)
        assertWellFormed(svg)
        XCTAssertEqual(count("class=\"line\"", in: svg), 2)
        XCTAssertEqual(count("class=\"band\"", in: svg), 1)
        let document = try XMLDocument(xmlString: svg, options: [])
        let pointLists = try document.nodes(forXPath: "//*[@class='line']/@points").map { $0.stringValue ?? "" }
        XCTAssertEqual(pointLists.map { $0.split(separator: " ").count }, [10, 10])
    }

    func testNiceTicks() {
        let axis = SVGPlot.Axis.linear(values: [0.03, 0.97])
        XCTAssertEqual(axis.ticks.map { ($0 * 10).rounded() / 10 }, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(axis.label(axis.ticks[1]), "0.2")
        let log = SVGPlot.Axis.logarithmic(values: [0.004, 3])
        XCTAssertEqual(log.lower, 1e-3, accuracy: 1e-15)
        XCTAssertEqual(log.upper, 10, accuracy: 1e-12)
        XCTAssertEqual(log.ticks.count, 5)
    }

    func testWriteIsAtomicAndCreatesDirectories() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sane-svg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plots/a.svg").path
        try SVGPlot.write("<svg/>", toPath: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "<svg/>")
    }
}
