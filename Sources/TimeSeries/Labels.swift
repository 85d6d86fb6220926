/// One label of a series: a name and its value, both plain UTF-8 text.
public struct Label: Hashable, Sendable, Comparable {
    /// The label's name, e.g. `job`; `__name__` holds the metric name.
    public var name: String
    /// The label's value; a label with an empty value is the same as no label at all.
    public var value: String

    /// A label named `name` with `value`.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// Orders by name, then by value, as Prometheus compares label sets.
    public static func < (lhs: Label, rhs: Label) -> Bool {
        lhs.name != rhs.name ? lhs.name < rhs.name : lhs.value < rhs.value
    }
}

/// A series' identity: a set of labels sorted by name, with no empty values and no name twice.
///
/// The metric name is the label `__name__`. Two series are the same series exactly when their
/// label sets are equal.
public struct Labels: Hashable, Sendable, Comparable, RandomAccessCollection, CustomStringConvertible {
    /// The labels, sorted by name.
    public private(set) var labels: [Label]
    /// The hash of `labels`, computed once: label sets are dictionary keys on every append by
    /// labels and at every step of a query.
    private let hash: Int

    /// The name of the label that holds the metric name.
    public static let metricName = "__name__"

    /// A label set from labels in any order; empty values are dropped and, where a name
    /// repeats, the last value wins.
    public init(_ labels: [Label]) {
        var sorted = labels.filter { !$0.value.isEmpty }
        sorted.sort { $0.name < $1.name }
        var unique: [Label] = []
        unique.reserveCapacity(sorted.count)
        for label in sorted {
            if let last = unique.last, last.name == label.name {
                unique[unique.count - 1] = label
            } else {
                unique.append(label)
            }
        }
        self.labels = unique
        self.hash = Self.hash(of: unique)
    }

    /// A label set from name/value pairs, e.g. `["__name__": "up", "job": "claimsd"]`.
    public init(_ pairs: [String: String]) {
        self.init(pairs.map { Label($0.key, $0.value) })
    }

    /// A label set whose labels are already sorted by name, unique and non-empty.
    init(sortedUnique labels: [Label]) {
        self.labels = labels
        self.hash = Self.hash(of: labels)
    }

    private static func hash(of labels: [Label]) -> Int {
        var hasher = Hasher()
        hasher.combine(labels)
        return hasher.finalize()
    }

    public static func == (lhs: Labels, rhs: Labels) -> Bool {
        lhs.hash == rhs.hash && lhs.labels == rhs.labels
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    /// The empty label set.
    public static let empty = Labels(sortedUnique: [])

    public var startIndex: Int { labels.startIndex }
    public var endIndex: Int { labels.endIndex }
    public subscript(position: Int) -> Label { labels[position] }

    /// The value of the label `name`, or `nil` when the series has no such label.
    public subscript(name: String) -> String? {
        var low = 0
        var high = labels.count
        while low < high {
            let middle = (low + high) / 2
            if labels[middle].name < name { low = middle + 1 } else { high = middle }
        }
        return low < labels.count && labels[low].name == name ? labels[low].value : nil
    }

    /// The metric name (`__name__`), or the empty string when there is none.
    public var name: String { self[Self.metricName] ?? "" }

    /// This label set with `name` set to `value` (removed when `value` is empty).
    public func setting(_ name: String, to value: String) -> Labels {
        var copy = labels.filter { $0.name != name }
        if !value.isEmpty {
            let index = copy.firstIndex { $0.name > name } ?? copy.count
            copy.insert(Label(name, value), at: index)
        }
        return Labels(sortedUnique: copy)
    }

    /// This label set without the label `name`.
    public func removing(_ name: String) -> Labels {
        Labels(sortedUnique: labels.filter { $0.name != name })
    }

    /// Compares label by label, name first, then value; a prefix sorts first.
    public static func < (lhs: Labels, rhs: Labels) -> Bool {
        for (left, right) in zip(lhs.labels, rhs.labels) where left != right {
            return left < right
        }
        return lhs.labels.count < rhs.labels.count
    }

    /// The series in PromQL notation: `name{label="value", …}`.
    public var description: String {
        var text = name
        let others = labels.filter { $0.name != Self.metricName }
        if !others.isEmpty || text.isEmpty {
            text += "{" + others.map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }.joined(separator: ", ") + "}"
        }
        return text
    }
}

/// `value` with backslash, double quote and newline escaped as in the exposition formats.
public func escapeLabelValue(_ value: String) -> String {
    guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else { return value }
    var escaped = ""
    for character in value.unicodeScalars {
        switch character {
        case "\\": escaped += "\\\\"
        case "\"": escaped += "\\\""
        case "\n": escaped += "\\n"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
public func isValidMetricName(_ name: some StringProtocol) -> Bool {
    var first = true
    for byte in name.utf8 {
        let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || byte == 0x3A
        let digit = byte >= 0x30 && byte <= 0x39
        if !(letter || (!first && digit)) { return false }
        first = false
    }
    return !first
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
public func isValidLabelName(_ name: some StringProtocol) -> Bool {
    var first = true
    for byte in name.utf8 {
        let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F
        let digit = byte >= 0x30 && byte <= 0x39
        if !(letter || (!first && digit)) { return false }
        first = false
    }
    return !first
}
