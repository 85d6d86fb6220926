/// A condition on one label of a series, as in a PromQL selector: `name="v"`, `name!="v"`,
/// `name=~"re"`, `name!~"re"`.
///
/// A series without the label is treated as having it with the empty value, so `env=""` and
/// `env!~".+"` select series that have no `env` label. Regular expressions are fully anchored,
/// as in Prometheus: `=~"a|b"` means `^(?:a|b)$`.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    /// How a matcher compares.
    public enum Kind: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case regexMatch = "=~"
        case regexNoMatch = "!~"
    }

    /// The label compared.
    public let name: String
    /// The comparison.
    public let kind: Kind
    /// The value or regular expression compared with.
    public let value: String
    private let regex: AnchoredRegex?

    /// A matcher; throws when a regular expression does not compile.
    public init(_ kind: Kind, _ name: String, _ value: String) throws(LabelMatcherError) {
        self.name = name
        self.kind = kind
        self.value = value
        switch kind {
        case .equal, .notEqual: regex = nil
        case .regexMatch, .regexNoMatch: regex = try AnchoredRegex(value)
        }
    }

    /// `name = value`; never throws.
    public static func equal(_ name: String, _ value: String) -> LabelMatcher {
        LabelMatcher(name: name, kind: .equal, value: value)
    }

    private init(name: String, kind: Kind, value: String) {
        self.name = name
        self.kind = kind
        self.value = value
        self.regex = nil
    }

    /// Whether a label value (the empty string for a missing label) satisfies the matcher.
    public func matches(_ candidate: String) -> Bool {
        switch kind {
        case .equal: return candidate == value
        case .notEqual: return candidate != value
        case .regexMatch: return regex?.matches(candidate) ?? false
        case .regexNoMatch: return !(regex?.matches(candidate) ?? false)
        }
    }

    /// Whether a series' labels satisfy the matcher.
    public func matches(_ labels: Labels) -> Bool {
        matches(labels[name] ?? "")
    }

    public static func == (lhs: LabelMatcher, rhs: LabelMatcher) -> Bool {
        lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(kind)
        hasher.combine(value)
    }

    /// The matcher as written in PromQL, e.g. `job=~"claims.*"`.
    public var description: String { "\(name)\(kind.rawValue)\"\(escapeLabelValue(value))\"" }
}

/// A regular expression that must match a whole label value.
struct AnchoredRegex: @unchecked Sendable {
    // Regex<AnyRegexOutput> is immutable once built; Swift does not mark it Sendable.
    private let regex: Regex<AnyRegexOutput>
    /// Set when the pattern is a plain alternation of literals (`a|b|c`), matched without the
    /// regex engine, as Prometheus does for its most common regular expressions.
    private let literals: Set<String>?

    init(_ pattern: String) throws(LabelMatcherError) {
        do {
            regex = try Regex("(?:" + pattern + ")")
        } catch {
            throw LabelMatcherError(pattern: pattern, problem: "\(error)")
        }
        literals = Self.literalAlternatives(pattern)
    }

    func matches(_ value: String) -> Bool {
        if let literals { return literals.contains(value) }
        return (try? regex.wholeMatch(in: value)) != nil
    }

    /// The alternatives of `pattern` when it is only literal text separated by `|`.
    private static func literalAlternatives(_ pattern: String) -> Set<String>? {
        let special: Set<Character> = ["\\", ".", "+", "*", "?", "(", ")", "[", "]", "{", "}", "^", "$"]
        guard !pattern.contains(where: { special.contains($0) }) else { return nil }
        return Set(pattern.split(separator: "|", omittingEmptySubsequences: false).map(String.init))
    }
}

/// A regular expression in a matcher did not compile.
public struct LabelMatcherError: Error, Sendable, CustomStringConvertible {
    /// The pattern as given.
    public var pattern: String
    /// What the regex engine reported.
    public var problem: String
    public var description: String { "invalid regular expression \"\(pattern)\": \(problem)" }
}
