public import TimeSeries

/// One element of an instant vector: a series' labels and its value at the evaluation time.
public struct VectorSample: Sendable, Equatable {
    public var labels: Labels
    /// The value's own timestamp for samples straight from a selector (what `timestamp()`
    /// reports); the evaluation time otherwise.
    public var timestamp: Int64
    public var value: Double

    public init(labels: Labels, timestamp: Int64, value: Double) {
        self.labels = labels
        self.timestamp = timestamp
        self.value = value
    }
}

/// One series of a range vector or of a range query's result.
public struct RangeSeries: Sendable, Equatable {
    public var labels: Labels
    public var samples: [Sample]

    public init(labels: Labels, samples: [Sample]) {
        self.labels = labels
        self.samples = samples
    }
}

/// What a query evaluates to.
public enum QueryValue: Sendable, Equatable {
    case scalar(timestamp: Int64, value: Double)
    case string(timestamp: Int64, value: String)
    case vector([VectorSample])
    case matrix([RangeSeries])

    /// The HTTP API's `resultType`.
    public var resultType: String {
        switch self {
        case .scalar: return "scalar"
        case .string: return "string"
        case .vector: return "vector"
        case .matrix: return "matrix"
        }
    }
}

/// Why a query could not be answered.
public enum QueryError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The query does not parse or has the wrong types (HTTP 400, `bad_data`).
    case parse(ParseError)
    /// The query is valid but cannot be evaluated on this data (HTTP 422, `execution`), such as
    /// many-to-many matching or duplicate label sets.
    case execution(String)
    /// The query needed more samples in memory than the limit allows (HTTP 422, `execution`).
    case tooManySamples(limit: Int)
    /// The query ran past its timeout (HTTP 503, `timeout`).
    case timeout(Duration)
    /// The query was cancelled (HTTP 503, `canceled`).
    case canceled

    public var description: String {
        switch self {
        case .parse(let error): return error.description
        case .execution(let message): return message
        case .tooManySamples: return "query processing would load too many samples into memory in query execution"
        case .timeout: return "query timed out in query execution"
        case .canceled: return "query was canceled in query execution"
        }
    }
}

/// Where a query reads its series: the store, or anything that selects like it.
public protocol Queryable: Sendable {
    /// The series the matchers select with samples in [mint, maxt], sorted by labels.
    func select(_ matchers: [LabelMatcher], from mint: Int64, through maxt: Int64) -> [SeriesSnapshot]
}

extension TimeSeriesStore: Queryable {}
