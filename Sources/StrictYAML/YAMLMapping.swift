public import Yams
import TimeSeries

/// A YAML document that does not have the shape a configuration needs, with the line it is on.
public struct YAMLProblem: Error, Sendable, CustomStringConvertible {
    /// The 1-based line of the offending node, when known.
    public var line: Int?
    /// What is wrong, in words an operator can act on.
    public var problem: String

    public init(line: Int?, problem: String) {
        self.line = line
        self.problem = problem
    }

    public var description: String { line.map { "line \($0): \(problem)" } ?? problem }
}

/// A YAML mapping whose keys are checked against those allowed.
public struct YAMLMapping {
    private let node: Node
    private let pairs: [String: Node]
    /// The keys in document order.
    public let keys: [String]

    /// The mapping `node`; a key outside `allowed` (when given) is an error naming `context`.
    public init(_ node: Node, context: String, allowed: Set<String>?) throws(YAMLProblem) {
        guard let mapping = node.mapping else { throw YAMLProblem(line: node.mark?.line, problem: "\(context) must be a mapping") }
        var pairs: [String: Node] = [:]
        var keys: [String] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw YAMLProblem(line: key.mark?.line, problem: "keys in \(context) must be strings") }
            if let allowed, !allowed.contains(name) {
                throw YAMLProblem(line: key.mark?.line, problem: "field \(name) not found in \(context) (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard pairs[name] == nil else { throw YAMLProblem(line: key.mark?.line, problem: "field \(name) appears twice in \(context)") }
            pairs[name] = value
            keys.append(name)
        }
        self.node = node
        self.pairs = pairs
        self.keys = keys
    }

    /// The value of `key`; an explicit null counts as absent.
    public subscript(key: String) -> Node? { pairs[key].flatMap { $0.isNull ? nil : $0 } }

    /// An error at this mapping's line.
    public func error(_ problem: String) -> YAMLProblem {
        YAMLProblem(line: node.mark?.line, problem: problem)
    }

    /// The scalar text of `key`.
    public func string(_ key: String) throws(YAMLProblem) -> String? {
        guard let value = self[key] else { return nil }
        guard let text = value.scalar?.string else { throw YAMLProblem(line: value.mark?.line, problem: "\(key) must be a string") }
        return text
    }

    /// The boolean `key`.
    public func bool(_ key: String) throws(YAMLProblem) -> Bool? {
        guard let value = self[key] else { return nil }
        guard let flag = value.bool else { throw YAMLProblem(line: value.mark?.line, problem: "\(key) must be true or false") }
        return flag
    }

    /// The Prometheus duration `key` (such as `1h30m`) in milliseconds.
    public func duration(_ key: String) throws(YAMLProblem) -> Int64? {
        guard let text = try string(key) else { return nil }
        guard let milliseconds = PrometheusDuration.milliseconds(text) else {
            throw YAMLProblem(line: self[key]?.mark?.line, problem: "\(key) \"\(text)\" is not a duration such as 15s, 1m or 1h30m")
        }
        return milliseconds
    }

    /// The list `key`; absent is empty.
    public func sequence(_ key: String) throws(YAMLProblem) -> [Node] {
        guard let value = self[key] else { return [] }
        guard let items = value.sequence else { throw YAMLProblem(line: value.mark?.line, problem: "\(key) must be a list") }
        return Array(items)
    }
}

extension Node {
    /// Whether the node is YAML's null (`~`, `null` or nothing).
    public var isNull: Bool {
        guard let scalar else { return false }
        return scalar.tag == .implicit && ["", "~", "null", "Null", "NULL"].contains(scalar.string) && scalar.style == .plain
    }
}
