public import Journal
public import OutboundHTTP

/// How hard a sender tries: attempts per request, each attempt's deadline, and the backoff
/// between attempts (doubling from `initialBackoff`, capped at `maxBackoff`; a `Retry-After`
/// from the server replaces it, capped the same way).
public struct RetryPolicy: Sendable, Equatable {
    public var attempts: Int
    public var timeout: Duration
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(attempts: Int = 4, timeout: Duration = .seconds(10), initialBackoff: Duration = .milliseconds(250), maxBackoff: Duration = .seconds(30)) {
        self.attempts = attempts
        self.timeout = timeout
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// The pause before attempt `attempt + 1` (attempt counts from 1), given the server's
    /// `Retry-After` when it sent one.
    public func backoff(after attempt: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return min(max(retryAfter, .zero), maxBackoff) }
        var pause = initialBackoff
        for _ in 1..<max(1, attempt) {
            pause = pause * 2
            if pause >= maxBackoff { return maxBackoff }
        }
        return min(pause, maxBackoff)
    }
}

/// What became of one request after all its attempts.
public struct DeliveryOutcome: Sendable {
    /// The last response's status; nil when no attempt got a response.
    public var status: Int?
    public var attempts: Int
    /// Why the last attempt failed, when it did.
    public var problem: String?

    /// A 2xx answer.
    public var delivered: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// Sends a request, retrying what is worth retrying: connection failures, timeouts, 429 and 5xx.
/// Other 4xx answers are final (the request itself is wrong; sending it again cannot help).
public struct RetryingSender: Sendable {
    public let policy: RetryPolicy
    /// Called before each pause, with the attempt that failed and the pause (for progress lines).
    private let onRetry: @Sendable (_ attempt: Int, _ reason: String, _ pause: Duration) -> Void

    public init(policy: RetryPolicy, onRetry: @escaping @Sendable (_ attempt: Int, _ reason: String, _ pause: Duration) -> Void = { _, _, _ in }) {
        self.policy = policy
        self.onRetry = onRetry
    }

    public func send(_ method: String, to url: OutboundURL, headers: [(String, String)] = [], body: [UInt8] = []) async -> DeliveryOutcome {
        var attempt = 0
        while true {
            attempt += 1
            let reason: String
            var retryAfter: Duration?
            var status: Int?
            do {
                let response = try await HTTPExchange.send(method, to: url, headers: headers, body: body, timeout: policy.timeout, maxBodyBytes: 64 << 10)
                status = response.status
                guard Self.isRetryable(status: response.status) else {
                    let problem = (200..<300).contains(response.status) ? nil : Self.describe(response)
                    return DeliveryOutcome(status: response.status, attempts: attempt, problem: problem)
                }
                reason = Self.describe(response)
                retryAfter = response.header("Retry-After").flatMap { Self.retryAfter($0) }
            } catch {
                reason = error.description
            }
            guard attempt < policy.attempts, !Task.isCancelled else {
                return DeliveryOutcome(status: status, attempts: attempt, problem: reason)
            }
            let pause = policy.backoff(after: attempt, retryAfter: retryAfter)
            onRetry(attempt, reason, pause)
            try? await Task.sleep(for: pause)
        }
    }

    /// 429 and 5xx: the server may take it later.
    public static func isRetryable(status: Int) -> Bool { status == 429 || status >= 500 }

    /// `Retry-After` as delta-seconds or as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, the
    /// time until then, at least zero); nil for anything else (the sender's own backoff applies).
    public static func retryAfter(_ value: String, now: WallClockTime = .now()) -> Duration? {
        let text = value.trimmingCharacters(in: " ")
        if let seconds = Int(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        guard let date = HTTPDate.unixSeconds(text) else { return nil }
        return .seconds(max(0, date - now.seconds))
    }

    /// `HTTP 429: <first 200 bytes of the body>`.
    static func describe(_ response: OutboundResponse) -> String {
        let text = String(decoding: response.body.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.isEmpty ? "HTTP \(response.status)" : "HTTP \(response.status): \(text)"
    }
}

extension String {
    /// The string without `character` at either end.
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
