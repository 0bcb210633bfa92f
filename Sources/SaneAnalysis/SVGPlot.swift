import Foundation
import SaneTensor

/// One named data series of a plot.
public struct PlotSeries: Sendable {
    public var name: String
    /// [points]
    public var x: [Double]
    /// [points]
    public var y: [Double]
    /// [points] optional half-width of a shaded band y ± spread (e.g. a standard deviation over runs).
    public var spread: [Double]?

    public init(name: String, x: [Double], y: [Double], spread: [Double]? = nil) {
        precondition(x.count == y.count, "PlotSeries \(name): \(x.count) x values but \(y.count) y values")
        precondition(spread.map { $0.count == y.count } ?? true, "PlotSeries \(name): spread has the wrong length")
        self.name = name
        self.x = x
        self.y = y
        self.spread = spread
    }
}

/// Dependency-free SVG charts: scatter plots (predicted vs. true) and line plots (loss curves,
/// fine-tuning curves with mean ± std bands). Every function returns the SVG document as a String.
///
/// Layout: a 640×440 canvas (configurable), title on top, axis labels outside the ticks, light grid
/// lines at "nice" tick values (1, 2, 5 × 10^k steps), a legend whenever there is more than one
/// series, placed in the corner of the plot area that hides the fewest data. Non-finite points are
/// skipped, and so are non-positive y values on a logarithmic axis.
public enum SVGPlot {
    /// Scatter plot, one colour per series; `showIdentityLine` draws y = x and gives both axes the
    /// same range (the natural view of predicted vs. true values).
    public static func scatter(series: [PlotSeries], title: String, xLabel: String, yLabel: String,
                               showIdentityLine: Bool = true, width: Int = 640, height: Int = 440) -> String {
        let points = series.map { finitePoints($0, logarithmicY: false) }
        var xValues = points.flatMap { $0.map(\.x) }
        var yValues = points.flatMap { $0.map(\.y) }
        if showIdentityLine {
            xValues += yValues
            yValues = xValues
        }
        var canvas = Canvas(width: width, height: height,
                            xAxis: .linear(values: xValues), yAxis: .linear(values: yValues))
        canvas.drawFrame(title: title, xLabel: xLabel, yLabel: yLabel)
        var legend: [LegendEntry] = []
        if showIdentityLine {
            let low = max(canvas.xAxis.lower, canvas.yAxis.lower), high = min(canvas.xAxis.upper, canvas.yAxis.upper)
            canvas.body += "<line class=\"identity\" x1=\"\(f(canvas.px(low)))\" y1=\"\(f(canvas.py(low)))\" "
                + "x2=\"\(f(canvas.px(high)))\" y2=\"\(f(canvas.py(high)))\" stroke=\"#777777\" stroke-width=\"1.2\" stroke-dasharray=\"5,4\"/>\n"
            legend.append(LegendEntry(name: "y = x", color: "#777777", marker: .dashedLine))
        }
        for (index, seriesPoints) in points.enumerated() {
            let color = palette[index % palette.count]
            canvas.body += "<g class=\"series\" fill=\"\(color)\" fill-opacity=\"0.65\" stroke=\"none\">\n"
            for point in seriesPoints {
                let (x, y) = (canvas.px(point.x), canvas.py(point.y))
                canvas.occupied.append((x, y))
                canvas.body += "<circle class=\"point\" cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"3\"/>\n"
            }
            canvas.body += "</g>\n"
            legend.append(LegendEntry(name: series[index].name, color: color, marker: .dot))
        }
        if series.count > 1 { canvas.drawLegend(legend) }
        return canvas.document()
    }

    /// Line plot, one colour per series, with a shaded y ± spread band where a series has one;
    /// `logarithmicY` uses a base-10 y axis (e.g. for loss curves).
    public static func lines(series: [PlotSeries], title: String, xLabel: String, yLabel: String,
                             logarithmicY: Bool = false, width: Int = 640, height: Int = 440) -> String {
        let points = series.map { finitePoints($0, logarithmicY: logarithmicY) }
        let xValues = points.flatMap { $0.map(\.x) }
        let yValues = points.flatMap { $0.flatMap { [$0.low, $0.high] } }
        var canvas = Canvas(width: width, height: height, xAxis: .linear(values: xValues),
                            yAxis: logarithmicY ? .logarithmic(values: yValues) : .linear(values: yValues))
        canvas.drawFrame(title: title, xLabel: xLabel, yLabel: yLabel)
        var legend: [LegendEntry] = []
        for (index, seriesPoints) in points.enumerated() {
            let color = palette[index % palette.count]
            canvas.body += "<g class=\"series\">\n"
            if series[index].spread != nil, !seriesPoints.isEmpty {
                let upper = seriesPoints.map { "\(f(canvas.px($0.x))),\(f(canvas.py($0.high)))" }
                let lower = seriesPoints.reversed().map { "\(f(canvas.px($0.x))),\(f(canvas.py($0.low)))" }
                canvas.body += "<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\" "
                    + "fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
            }
            // Sample the curve and band edges between vertices so the legend placement sees them.
            let pixels = seriesPoints.map { point in [point.y, point.low, point.high].map { (canvas.px(point.x), canvas.py($0)) } }
            canvas.occupied += pixels.flatMap { $0 }
            for (start, end) in zip(pixels, pixels.dropFirst()) {
                for (a, b) in zip(start, end) {
                    canvas.occupied += (1..<8).map { k in
                        let t = Double(k) / 8
                        return (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                    }
                }
            }
            let line = seriesPoints.map { "\(f(canvas.px($0.x))),\(f(canvas.py($0.y)))" }
            canvas.body += "<polyline class=\"line\" points=\"\(line.joined(separator: " "))\" fill=\"none\" "
                + "stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n"
            canvas.body += "</g>\n"
            legend.append(LegendEntry(name: series[index].name, color: color, marker: .line))
        }
        if series.count > 1 { canvas.drawLegend(legend) }
        return canvas.document()
    }

    /// Writes a document atomically (`AtomicFile`), creating missing directories.
    public static func write(_ document: String, toPath path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(document, to: url)
    }

    // MARK: Internals

    /// Matplotlib's "tab10" colours.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    struct Point { var x, y, low, high: Double }

    struct LegendEntry {
        enum Marker { case line, dashedLine, dot }
        var name: String
        var color: String
        var marker: Marker
    }

    static func finitePoints(_ series: PlotSeries, logarithmicY: Bool) -> [Point] {
        series.x.indices.compactMap { i in
            let spread = series.spread?[i] ?? 0
            var point = Point(x: series.x[i], y: series.y[i], low: series.y[i] - spread, high: series.y[i] + spread)
            guard point.x.isFinite, point.y.isFinite, point.low.isFinite, point.high.isFinite else { return nil }
            if logarithmicY {
                guard point.y > 0 else { return nil }
                if point.low <= 0 { point.low = point.y }  // a band reaching zero is cut at the line
            }
            return point
        }
    }

    /// Two-decimal coordinates keep the files small and exact enough.
    static func f(_ value: Double) -> String { String(format: "%.2f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// An axis: data range [lower, upper] (tick-aligned), tick values and whether it maps log10.
    struct Axis {
        var lower: Double
        var upper: Double
        var ticks: [Double]
        var logarithmic: Bool

        /// Position in [0, 1] of a data value along the axis.
        func fraction(_ value: Double) -> Double {
            logarithmic ? (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
                : (value - lower) / (upper - lower)
        }

        /// Linear axis with about five ticks at 1, 2, 5 × 10^k steps (Heckbert, "Nice numbers for
        /// graph labels", Graphics Gems, 1990), the range widened to whole steps.
        static func linear(values: [Double], targetTickCount: Int = 5) -> Axis {
            var low = values.min() ?? 0, high = values.max() ?? 1
            if low == high {
                let pad = low == 0 ? 1 : abs(low) * 0.1
                low -= pad
                high += pad
            }
            let step = niceStep((high - low) / Double(targetTickCount))
            let lower = (low / step).rounded(.down) * step
            let upper = (high / step).rounded(.up) * step
            let count = Int(((upper - lower) / step).rounded())
            let ticks = (0...count).map { lower + Double($0) * step }
            return Axis(lower: lower, upper: upper, ticks: ticks, logarithmic: false)
        }

        /// Base-10 axis spanning whole decades; ticks at powers of ten, plus 2× and 5× within a
        /// range of at most two decades.
        static func logarithmic(values: [Double]) -> Axis {
            let positive = values.filter { $0 > 0 }
            var lowExponent = (log10(positive.min() ?? 1)).rounded(.down)
            var highExponent = (log10(positive.max() ?? 10)).rounded(.up)
            if lowExponent == highExponent {
                lowExponent -= 1
                highExponent += 1
            }
            var ticks: [Double] = []
            for exponent in Int(lowExponent)...Int(highExponent) {
                let decade = pow(10, Double(exponent))
                ticks.append(decade)
                if highExponent - lowExponent <= 2 && Double(exponent) < highExponent {
                    ticks += [2 * decade, 5 * decade]
                }
            }
            return Axis(lower: pow(10, lowExponent), upper: pow(10, highExponent), ticks: ticks, logarithmic: true)
        }

        static func niceStep(_ rough: Double) -> Double {
            let magnitude = pow(10, log10(rough).rounded(.down))
            let normalized = rough / magnitude
            let nice: Double = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10
            return nice * magnitude
        }

        /// Tick label: plain decimals with as many digits as the tick spacing needs, scientific
        /// notation for very large or small values.
        func label(_ value: Double) -> String {
            if value == 0 { return "0" }
            let magnitude = abs(value)
            if magnitude >= 1e5 || magnitude < 1e-3 { return String(format: "%g", value) }
            if logarithmic { return String(format: "%g", value) }
            let step = ticks.count > 1 ? ticks[1] - ticks[0] : magnitude
            let decimals = max(0, Int(-log10(step).rounded(.down)))
            return String(format: "%.\(decimals)f", value)
        }
    }

    /// A plot under construction: axes, pixel mapping and the accumulated SVG body.
    struct Canvas {
        let width: Int
        let height: Int
        let xAxis: Axis
        let yAxis: Axis
        let left = 72.0, right = 24.0, top = 44.0, bottom = 56.0
        var body = ""
        /// Pixel positions of drawn data, so the legend can avoid covering them.
        var occupied: [(x: Double, y: Double)] = []

        var plotWidth: Double { Double(width) - left - right }
        var plotHeight: Double { Double(height) - top - bottom }
        func px(_ x: Double) -> Double { left + xAxis.fraction(x) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - yAxis.fraction(y)) * plotHeight }

        /// Title, grid, ticks, tick labels, axis labels and the plot-area border.
        mutating func drawFrame(title: String, xLabel: String, yLabel: String) {
            let bottomEdge = top + plotHeight, rightEdge = left + plotWidth
            body += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>\n"
            body += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top / 2 + 6))\" text-anchor=\"middle\" "
                + "font-size=\"16\" font-weight=\"bold\">\(escape(title))</text>\n"
            body += "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
            for tick in xAxis.ticks {
                body += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(top))\" x2=\"\(f(px(tick)))\" y2=\"\(f(bottomEdge))\"/>\n"
            }
            for tick in yAxis.ticks {
                body += "<line x1=\"\(f(left))\" y1=\"\(f(py(tick)))\" x2=\"\(f(rightEdge))\" y2=\"\(f(py(tick)))\"/>\n"
            }
            body += "</g>\n"
            body += "<g class=\"ticks\" font-size=\"11\" fill=\"#333333\">\n"
            for tick in xAxis.ticks {
                body += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(bottomEdge))\" x2=\"\(f(px(tick)))\" y2=\"\(f(bottomEdge + 5))\" stroke=\"#333333\"/>\n"
                body += "<text x=\"\(f(px(tick)))\" y=\"\(f(bottomEdge + 18))\" text-anchor=\"middle\">\(xAxis.label(tick))</text>\n"
            }
            for tick in yAxis.ticks {
                body += "<line x1=\"\(f(left - 5))\" y1=\"\(f(py(tick)))\" x2=\"\(f(left))\" y2=\"\(f(py(tick)))\" stroke=\"#333333\"/>\n"
                body += "<text x=\"\(f(left - 8))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(yAxis.label(tick))</text>\n"
            }
            body += "</g>\n"
            body += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" "
                + "fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
            body += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(Double(height) - 14))\" text-anchor=\"middle\" "
                + "font-size=\"13\">\(escape(xLabel))</text>\n"
            body += "<text transform=\"translate(18,\(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" "
                + "font-size=\"13\">\(escape(yLabel))</text>\n"
        }

        /// Legend box in the corner of the plot area that covers the fewest data points
        /// (upper left, upper right, lower right, lower left; first wins on ties).
        mutating func drawLegend(_ entries: [LegendEntry]) {
            let rowHeight = 18.0
            let longest = entries.map(\.name.count).max() ?? 0
            let boxWidth = 38 + Double(longest) * 6.6
            let boxHeight = Double(entries.count) * rowHeight + 8
            let corners = [(left + 10, top + 10), (left + plotWidth - 10 - boxWidth, top + 10),
                           (left + plotWidth - 10 - boxWidth, top + plotHeight - 10 - boxHeight),
                           (left + 10, top + plotHeight - 10 - boxHeight)]
            let covered = corners.map { corner in
                occupied.filter { ($0.x >= corner.0 - 4 && $0.x <= corner.0 + boxWidth + 4)
                    && ($0.y >= corner.1 - 4 && $0.y <= corner.1 + boxHeight + 4) }.count
            }
            let (x, y) = corners[covered.firstIndex(of: covered.min()!)!]
            body += "<g class=\"legend\" font-size=\"12\">\n"
            body += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(boxWidth))\" height=\"\(f(boxHeight))\" "
                + "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n"
            for (index, entry) in entries.enumerated() {
                let rowY = y + 4 + (Double(index) + 0.5) * rowHeight
                switch entry.marker {
                case .dot:
                    body += "<circle cx=\"\(f(x + 18))\" cy=\"\(f(rowY))\" r=\"4\" fill=\"\(entry.color)\"/>\n"
                case .line, .dashedLine:
                    let dash = entry.marker == .dashedLine ? " stroke-width=\"1.2\" stroke-dasharray=\"5,4\"" : " stroke-width=\"3\""
                    body += "<line x1=\"\(f(x + 8))\" y1=\"\(f(rowY))\" x2=\"\(f(x + 28))\" y2=\"\(f(rowY))\" "
                        + "stroke=\"\(entry.color)\"\(dash)/>\n"
                }
                body += "<text x=\"\(f(x + 34))\" y=\"\(f(rowY + 4))\">\(escape(entry.name))</text>\n"
            }
            body += "</g>\n"
        }

        func document() -> String {
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
            viewBox="0 0 \(width) \(height)" font-family="sans-serif">
            \(body)</svg>

            """
        }
    }
}
