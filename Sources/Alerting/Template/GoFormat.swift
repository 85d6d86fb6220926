import Foundation

/// Numbers printed the way Go's `fmt` prints them, so that annotation text matches what
/// Prometheus renders for the same template and value.
enum GoFormat {
    /// `%v` of a float64: the shortest digits that round-trip, in `%e` form when the decimal
    /// exponent is below -4 or at least 6 (Go's rule for the shortest `%g`).
    static func value(_ number: Double) -> String {
        if let special = special(number) { return special }
        if number == 0 { return number.sign == .minus ? "-0" : "0" }
        let (negative, digits, exponent) = shortestDigits(number)
        let sign = negative ? "-" : ""
        // `exponent` is the position of the decimal point: value = 0.d1d2… × 10^exponent.
        let scientific = exponent - 1
        if scientific < -4 || scientific >= 6 {
            return sign + eForm(digits: digits, exponent: scientific)
        }
        return sign + fForm(digits: digits, pointAt: exponent)
    }

    /// `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits in exponent form (`1e+00`,
    /// `5.5e-02`), as Prometheus's API writes alert values.
    static func exponent(_ number: Double) -> String {
        if let special = special(number) { return special }
        if number == 0 { return number.sign == .minus ? "-0e+00" : "0e+00" }
        let (negative, digits, pointAt) = shortestDigits(number)
        return (negative ? "-" : "") + eForm(digits: digits, exponent: pointAt - 1)
    }

    /// `%.<precision>g`, `%.<precision>f`, `%.<precision>e` and friends of a float64.
    static func float(_ number: Double, verb: Character, precision: Int?, flags: String = "", width: Int? = nil) -> String {
        if let special = special(number) {
            let text = flags.contains("+") && number.isInfinite && number > 0 ? "+Inf" : special
            return pad(text, width: width, left: flags.contains("-"))
        }
        if verb == "v" || ((verb == "g" || verb == "G") && precision == nil) {
            var text = value(number)
            if verb == "G" { text = text.uppercased() }
            if flags.contains("+") && number >= 0 && !(number.sign == .minus) { text = "+" + text }
            return pad(text, width: width, left: flags.contains("-"), zero: flags.contains("0"))
        }
        var spec = "%" + flags.filter { "+- 0#".contains($0) }
        if let width { spec += String(width) }
        spec += "." + String(precision ?? 6) + String(verb)
        return String(format: spec, number)
    }

    /// NaN and the infinities as Go prints them.
    static func special(_ number: Double) -> String? {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number > 0 ? "+Inf" : "-Inf" }
        return nil
    }

    static func pad(_ text: String, width: Int?, left: Bool, zero: Bool = false) -> String {
        guard let width, text.count < width else { return text }
        let filler = String(repeating: zero && !left ? "0" : " ", count: width - text.count)
        return left ? text + filler : filler + text
    }

    /// The shortest round-tripping decimal digits of a finite, non-zero `number` and the
    /// position of the decimal point relative to them.
    private static func shortestDigits(_ number: Double) -> (negative: Bool, digits: [Character], pointAt: Int) {
        // Swift's description is the shortest round-tripping form, as Go's is.
        var text = Substring(abs(number).description)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        var digits = Array(whole) + Array(fraction)
        var pointAt = whole.count + exponent
        while let first = digits.first, first == "0", digits.count > 1 {
            digits.removeFirst()
            pointAt -= 1
        }
        while let last = digits.last, last == "0", digits.count > 1 { digits.removeLast() }
        return (number < 0, digits, pointAt)
    }

    private static func eForm(digits: [Character], exponent: Int) -> String {
        var text = String(digits[0])
        if digits.count > 1 { text += "." + String(digits[1...]) }
        let magnitude = abs(exponent)
        return text + (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
    }

    private static func fForm(digits: [Character], pointAt: Int) -> String {
        if pointAt <= 0 { return "0." + String(repeating: "0", count: -pointAt) + String(digits) }
        if pointAt >= digits.count { return String(digits) + String(repeating: "0", count: pointAt - digits.count) }
        return String(digits[..<pointAt]) + "." + String(digits[pointAt...])
    }
}
