import Foundation
public import TimeSeries

/// Where an alert is in its life.
public enum AlertState: String, Sendable, Comparable {
    /// Resolved: kept for a while so the resolution is sent.
    case inactive
    /// The condition holds, for less than the rule's `for`.
    case pending
    /// The condition held for `for`, or keeps firing within `keep_firing_for`.
    case firing

    public static func < (lhs: AlertState, rhs: AlertState) -> Bool {
        let order: [AlertState] = [.inactive, .pending, .firing]
        return order.firstIndex(of: lhs) ?? 0 < order.firstIndex(of: rhs) ?? 0
    }
}

/// One alert of an alerting rule: a label set and its state. Times are milliseconds since
/// the epoch.
public struct Alert: Sendable, Equatable {
    /// The alert's labels: the result's labels without the metric name, the rule's labels
    /// and `alertname`.
    public var labels: Labels
    /// Rendered annotations.
    public var annotations: [String: String]
    public var state: AlertState
    /// The value of the expression at the last evaluation that produced this alert.
    public var value: Double
    /// When the condition was first seen (or restored to).
    public var activeAt: Int64
    /// When it went to firing.
    public var firedAt: Int64?
    /// When it was resolved.
    public var resolvedAt: Int64?
    /// When it was last handed to the notifiers.
    public var lastSentAt: Int64?
    /// The `endsAt` a still-firing alert was last sent with.
    public var validUntil: Int64?
    /// When the condition stopped while `keep_firing_for` holds the alert firing.
    public var keepFiringSince: Int64?

    public init(labels: Labels, annotations: [String: String], state: AlertState, value: Double, activeAt: Int64) {
        self.labels = labels
        self.annotations = annotations
        self.state = state
        self.value = value
        self.activeAt = activeAt
    }

    /// The value as Prometheus's API writes it (`strconv.FormatFloat(v, 'e', -1, 64)`).
    public var valueText: String { GoFormat.exponent(value) }

    /// Whether the notifiers should get this alert at `time` (Prometheus's rule: never
    /// pending ones; resolved ones once more after resolving; firing ones every `resendDelay`).
    func needsSending(at time: Int64, resendDelay: Int64) -> Bool {
        if state == .pending { return false }
        guard let lastSentAt else { return true }
        if let resolvedAt, resolvedAt > lastSentAt { return true }
        return lastSentAt + resendDelay < time
    }
}

/// An alert handed to the notifiers, in Alertmanager's terms.
public struct AlertNotification: Sendable, Equatable {
    public var labels: Labels
    public var annotations: [String: String]
    /// The firing time.
    public var startsAt: Int64
    /// The resolved time, or how long a firing alert stays valid without a re-send.
    public var endsAt: Int64
    /// The rule's expression, for `generatorURL`.
    public var expression: String
    /// Whether the alert is resolved (`endsAt` is its resolution time).
    public var isResolved: Bool

    public init(labels: Labels, annotations: [String: String], startsAt: Int64, endsAt: Int64, expression: String, isResolved: Bool) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.expression = expression
        self.isResolved = isResolved
    }
}

/// A rule's health after its last evaluation, as `/api/v1/rules` reports it.
public enum RuleHealth: String, Sendable {
    case unknown, ok, err
}

/// One past evaluation of a rule, kept for debugging.
public struct RuleEvaluationRecord: Sendable, Equatable {
    /// Evaluation time (milliseconds since the epoch).
    public var time: Int64
    /// How long it took (seconds).
    public var duration: Double
    /// Samples the expression returned.
    public var samples: Int
    public var error: String?
}

/// Times as Go's JSON writes them (RFC 3339, UTC, fraction trimmed): Prometheus's API and
/// Alertmanager's payloads use this form.
public enum AlertTime {
    /// `2026-11-30T13:51:50.123Z` for milliseconds since the epoch.
    public static func rfc3339(_ milliseconds: Int64) -> String {
        let text = GoTime.string(milliseconds: milliseconds)
        // "YYYY-MM-DD HH:MM:SS[.fff] +0000 UTC" → "YYYY-MM-DDTHH:MM:SS[.fff]Z"
        return String(text.dropLast(" +0000 UTC".count)).replacingOccurrences(of: " ", with: "T") + "Z"
    }

    /// Go's zero time, which Alertmanager's webhooks send as `endsAt` of firing alerts.
    public static let zero = "0001-01-01T00:00:00Z"
}
