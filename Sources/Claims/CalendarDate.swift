/// A date without time or zone, as a service date is.
public struct CalendarDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// A valid date, or `nil` (February 30th, month 13, …).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...Self.days(inMonth: month, year: year)).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The civil date `days` after 1970-01-01 (negative: before), always valid.
    public init(daysSinceEpoch days: Int) {
        // Howard Hinnant's civil_from_days, in eras of 400 years starting on March 1st.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Days from 1970-01-01 to this date (negative: before it); the inverse of
    /// ``init(daysSinceEpoch:)``.
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// ISO 8601: `2018-03-28`.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    static func days(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Reads the date forms real exports use: `3/28/18 0:00`, `3/28/2018`, `2018-03-28`,
    /// `2018-03-28 00:00:00`, ISO 8601 `2018-03-28T00:00:00Z` / `…+02:00`. The time part, when
    /// present, must be a valid time and is dropped (a service date is a calendar day as written).
    /// Two-digit years pivot on `pivotYear`: years up to its last two digits are 20xx, later ones 19xx.
    public init?(parsing text: String, pivotYear: Int = 2069) {
        let trimmed = text.trimmingSpaces
        let utf8 = trimmed.utf8
        guard !utf8.isEmpty else { return nil }
        let dateEnd = utf8.firstIndex(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "T") }) ?? utf8.endIndex
        let timePart = dateEnd == utf8.endIndex ? Substring("") : trimmed[utf8.index(after: dateEnd)...]
        guard timePart.isEmpty || Self.isValidTime(timePart) else { return nil }

        // Three runs of digits with one kind of separator, read byte by byte (every imported
        // line has a date).
        var numbers = (0, 0, 0)
        var widths = (0, 0, 0)
        var field = 0
        var separator: UInt8?
        for byte in utf8[..<dateEnd] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int(byte - UInt8(ascii: "0"))
                switch field {
                case 0: numbers.0 = numbers.0 * 10 + digit; widths.0 += 1
                case 1: numbers.1 = numbers.1 * 10 + digit; widths.1 += 1
                default: numbers.2 = numbers.2 * 10 + digit; widths.2 += 1
                }
                guard widths.0 <= 4, widths.1 <= 4, widths.2 <= 4 else { return nil }
            case UInt8(ascii: "-"), UInt8(ascii: "/"):
                guard separator == nil || separator == byte, field < 2 else { return nil }
                separator = byte
                field += 1
            default:
                return nil
            }
        }
        guard field == 2 else { return nil }
        if separator == UInt8(ascii: "-") {
            guard widths.0 == 4, (1...2).contains(widths.1), (1...2).contains(widths.2) else { return nil }
            self.init(year: numbers.0, month: numbers.1, day: numbers.2)
        } else {
            guard (1...2).contains(widths.0), (1...2).contains(widths.1), widths.2 == 2 || widths.2 == 4 else { return nil }
            var year = numbers.2
            if widths.2 == 2 { year += year <= pivotYear % 100 ? 2000 : 1900 }
            self.init(year: year, month: numbers.0, day: numbers.1)
        }
    }

    /// `0:00`, `00:00:00`, `00:00:00.000`, with an optional `Z` or `±hh:mm` zone.
    static func isValidTime(_ text: Substring) -> Bool {
        var time = ArraySlice(text.utf8)
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        /// The value of a run of 1…`width` digits, or nil.
        func number(_ digits: ArraySlice<UInt8>, width: ClosedRange<Int>) -> Int? {
            guard width.contains(digits.count), digits.allSatisfy(isDigit) else { return nil }
            return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        if time.last == UInt8(ascii: "Z") || time.last == UInt8(ascii: "z") {
            time = time.dropLast()
        } else if let sign = time.lastIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) {
            // ±hh or ±hh:mm
            let zone = time[(sign + 1)...]
            guard number(zone.prefix(2), width: 2...2) != nil,
                zone.count == 2 || (zone.count == 5 && zone[sign + 3] == UInt8(ascii: ":") && number(zone.suffix(2), width: 2...2) != nil)
            else { return false }
            time = time[..<sign]
        }
        let fields = time.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
        guard (2...3).contains(fields.count), let hour = number(fields[0], width: 1...2), let minute = number(fields[1], width: 2...2),
            hour <= 23, minute <= 59
        else { return false }
        guard fields.count == 3 else { return true }
        let secondAndFraction = fields[2].split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard let second = number(secondAndFraction[0], width: 1...2), second <= 60 else { return false }
        return secondAndFraction.count == 1 || number(secondAndFraction[1], width: 1...9) != nil
    }
}
