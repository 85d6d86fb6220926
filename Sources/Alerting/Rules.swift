public import PromQL
import Synchronization
public import TimeSeries

/// What rules evaluate against: the engine, the storage it reads, and what templates see.
public struct RuleContext: Sendable {
    public var engine: QueryEngine
    public var storage: any Queryable
    public var externalLabels: Labels
    /// The URL claimsd is reached at, for `$externalURL` and `generatorURL`.
    public var externalURL: String
    /// Series read once for all the rules of a group evaluation (set by the group).
    var shared: SharedSelections?

    public init(engine: QueryEngine, storage: any Queryable, externalLabels: Labels = .empty, externalURL: String = "") {
        self.engine = engine
        self.storage = storage
        self.externalLabels = externalLabels
        self.externalURL = externalURL
    }

    /// The instant vector `expression` gives at `time`; a scalar is one sample without labels.
    func query(_ expression: Expr, at time: Int64) throws(RuleEvaluationError) -> [VectorSample] {
        let value: QueryValue
        do {
            value = try engine.instant(expression, at: time, storage: storage, shared: shared)
        } catch {
            throw RuleEvaluationError(message: error.description)
        }
        switch value {
        case .vector(let samples): return samples
        case .scalar(let timestamp, let number): return [VectorSample(labels: .empty, timestamp: timestamp, value: number)]
        default: throw RuleEvaluationError(message: "rule result is not a vector or scalar")
        }
    }

    /// The `query` function of templates, evaluated at `time`.
    func templateQuery(at time: Int64) -> @Sendable (String) throws -> [TemplateSample] {
        let engine = engine
        let storage = storage
        return { text in
            let value: QueryValue
            do {
                value = try engine.instantQuery(text, at: time, storage: storage)
            } catch {
                throw TemplateError("error executing query: \(error)")
            }
            switch value {
            case .vector(let samples): return samples.sorted { $0.labels < $1.labels }.map { TemplateSample(labels: $0.labels.dictionary, value: $0.value) }
            case .scalar(_, let number): return [TemplateSample(labels: [:], value: number)]
            default: throw TemplateError("error executing query: query result is not a vector or scalar")
            }
        }
    }
}

/// Why a rule's evaluation failed: the query, or what the rule made of its result.
public struct RuleEvaluationError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
}

/// What every rule reports about itself.
public struct RuleStatus: Sendable {
    public var health: RuleHealth = .unknown
    public var lastError: String?
    /// Milliseconds since the epoch; nil before the first evaluation.
    public var lastEvaluation: Int64?
    /// Seconds.
    public var evaluationDuration: Double = 0
    /// The last evaluations, newest last.
    public var history: [RuleEvaluationRecord] = []
    /// Since when the rule's selectors have matched no series at all (nil: they match some).
    public var selectorsEmptySince: Int64?
    /// The selectors that matched nothing at the last check.
    public var emptySelectors: [String] = []

    /// How many evaluations `history` keeps.
    public static let historyLength = 20

    mutating func record(time: Int64, duration: Double, samples: Int, error: String?) {
        health = error == nil ? .ok : .err
        lastError = error
        lastEvaluation = time
        evaluationDuration = duration
        history.append(RuleEvaluationRecord(time: time, duration: duration, samples: samples, error: error))
        if history.count > Self.historyLength { history.removeFirst(history.count - Self.historyLength) }
    }
}

/// An alerting or recording rule of a group.
public protocol Rule: AnyObject, Sendable {
    var definition: RuleDefinition { get }
    /// Health, last error and evaluation history.
    var status: RuleStatus { get }
    /// Evaluates the rule at `time` and returns the series it writes (recording rules: the
    /// recorded samples; alerting rules: `ALERTS` and `ALERTS_FOR_STATE`).
    func evaluate(at time: Int64, context: RuleContext, limit: Int) throws(RuleEvaluationError) -> [VectorSample]
    /// Records the outcome of one evaluation (called by the group).
    func record(time: Int64, duration: Double, samples: Int, error: String?)
    /// Updates the rule's "selectors match nothing" state after a check at `time`.
    func noteEmptySelectors(_ selectors: [String], at time: Int64)
}

extension Labels {
    /// The label set as a dictionary (for templates and payloads).
    public var dictionary: [String: String] {
        var pairs: [String: String] = [:]
        for label in self { pairs[label.name] = label.value }
        return pairs
    }
}

/// A recording rule: its expression's result saved as a new metric.
public final class RecordingRule: Rule {
    public let definition: RuleDefinition
    private let staticLabels: [Label]
    private let state = Mutex(RuleStatus())

    public init(_ definition: RuleDefinition) {
        self.definition = definition
        self.staticLabels = definition.labels.map { Label($0.name, $0.value) }
    }

    public var status: RuleStatus { state.withLock { $0 } }

    public func evaluate(at time: Int64, context: RuleContext, limit: Int) throws(RuleEvaluationError) -> [VectorSample] {
        let vector = try context.query(definition.parsed, at: time)
        var seen = Set<Labels>()
        var output: [VectorSample] = []
        output.reserveCapacity(vector.count)
        for sample in vector {
            var labels = sample.labels.setting(Labels.metricName, to: definition.name)
            for label in staticLabels { labels = labels.setting(label.name, to: label.value) }
            guard seen.insert(labels).inserted else {
                throw RuleEvaluationError(message: "vector contains metrics with the same labelset after applying rule labels")
            }
            output.append(VectorSample(labels: labels, timestamp: time, value: sample.value))
        }
        if limit > 0 && output.count > limit {
            throw RuleEvaluationError(message: "exceeded limit of \(limit) with \(output.count) series")
        }
        return output
    }

    public func record(time: Int64, duration: Double, samples: Int, error: String?) {
        state.withLock { $0.record(time: time, duration: duration, samples: samples, error: error) }
    }

    public func noteEmptySelectors(_ selectors: [String], at time: Int64) {
        state.withLock { $0.noteEmpty(selectors, at: time) }
    }

    /// Takes over health and history from the same rule of a reloaded group.
    func adopt(from previous: RecordingRule) {
        let status = previous.status
        state.withLock { $0 = status }
    }
}

extension RuleStatus {
    mutating func noteEmpty(_ selectors: [String], at time: Int64) {
        emptySelectors = selectors
        if selectors.isEmpty {
            selectorsEmptySince = nil
        } else if selectorsEmptySince == nil {
            selectorsEmptySince = time
        }
    }
}
