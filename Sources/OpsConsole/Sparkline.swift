/// A small line chart of one series over a time window, drawn as inline SVG on the server.
///
/// Points are placed by time between `start` and `end`, and by value on a scale from zero to the
/// highest value shown (or from the lowest, for a series that goes below zero), so a steady rate
/// reads as steady rather than as its rounding noise blown up to full height. Where the series has no
/// point for more than one step — a scrape missed, claimsd was down — the line breaks instead of
/// bridging the gap. Non-finite values (NaN from a ratio of zero rates) are gaps too.
public struct Sparkline: Sendable, Equatable {
    /// One value of the series at a time (milliseconds since the epoch).
    public struct Point: Sendable, Equatable {
        /// When, in milliseconds since the epoch.
        public var time: Int64
        /// The value; a non-finite one is a gap.
        public var value: Double

        public init(time: Int64, value: Double) {
            self.time = time
            self.value = value
        }
    }

    /// The series, in any order.
    public var points: [Point]
    /// The window shown, in milliseconds since the epoch, and the distance between points.
    public var start: Int64
    public var end: Int64
    public var step: Int64
    /// The drawing's size in SVG user units (CSS pixels at 100 %).
    public var width: Double
    public var height: Double

    public init(points: [Point], start: Int64, end: Int64, step: Int64, width: Double = 240, height: Double = 40) {
        self.points = points
        self.start = start
        self.end = max(end, start + 1)
        self.step = max(1, step)
        self.width = width
        self.height = height
    }

    /// The scale: from the lowest finite value or zero, whichever is lower, to the highest or
    /// zero, whichever is higher; nil when no value is finite.
    public var valueRange: ClosedRange<Double>? {
        var lowest = Double.infinity
        var highest = -Double.infinity
        for point in points where point.value.isFinite {
            lowest = min(lowest, point.value)
            highest = max(highest, point.value)
        }
        return lowest <= highest ? min(lowest, 0)...max(highest, 0) : nil
    }

    /// The path's `d` attribute: `M` starts each unbroken run of points, `L` continues it.
    /// Empty when no point is finite.
    public var pathData: String {
        guard let range = valueRange else { return "" }
        let span = Double(end - start)
        // A small inset keeps the stroke inside the box at the lowest and highest values.
        let inset = 1.0
        let drawable = height - 2 * inset
        var d = ""
        var previous: Int64?
        for point in points.sorted(by: { $0.time < $1.time }) {
            guard point.value.isFinite, point.time >= start, point.time <= end else {
                previous = nil
                continue
            }
            let x = Double(point.time - start) / span * width
            // Everything zero lies on the bottom line.
            let y = range.upperBound > range.lowerBound ? inset + (range.upperBound - point.value) / (range.upperBound - range.lowerBound) * drawable : height - inset
            let continues = previous.map { point.time - $0 <= step } ?? false
            if !d.isEmpty { d += " " }
            d += (continues ? "L" : "M") + Self.number(x) + " " + Self.number(y)
            previous = point.time
        }
        return d
    }

    /// The chart as an `<svg>` element; `label` names it for assistive technology.
    public func svg(label: String) -> String {
        var html = HTMLText()
        html.raw("<svg class=\"sparkline\" xmlns=\"http://www.w3.org/2000/svg\"")
        html.attribute("viewBox", "0 0 \(Self.number(width)) \(Self.number(height))")
        html.attribute("width", Self.number(width))
        html.attribute("height", Self.number(height))
        html.raw(" role=\"img\"")
        html.attribute("aria-label", label)
        html.raw(">")
        let d = pathData
        if d.isEmpty {
            html.raw("<text x=\"4\" y=\"\(Self.number(height / 2 + 4))\">no data</text>")
        } else {
            html.raw("<path")
            html.attribute("d", d)
            html.raw("/>")
        }
        html.raw("</svg>")
        return html.html
    }

    /// `x` with at most one decimal, no trailing `.0`, no exponent.
    static func number(_ x: Double) -> String {
        let tenths = (x * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "0" }
        let whole = Int64(tenths)
        let sign = whole < 0 ? "-" : ""
        let magnitude = whole.magnitude
        let fraction = magnitude % 10
        return sign + String(magnitude / 10) + (fraction == 0 ? "" : "." + String(fraction))
    }
}
