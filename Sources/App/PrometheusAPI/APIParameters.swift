import Foundation
import Hummingbird

/// The parameters of a Prometheus HTTP API call: from the query string and, for POST, from an
/// `application/x-www-form-urlencoded` body, as Prometheus reads them. Repeated keys such as
/// `match[]` keep every value.
struct APIParameters: Sendable {
    private var values: [String: [String]] = [:]

    /// Largest form body read.
    static let maxFormBytes = 1 << 20

    static func read(_ request: Request) async throws -> APIParameters {
        var parameters = APIParameters()
        // The raw query, decoded here: keys such as match%5B%5D must be decoded too.
        if let query = request.uri.query { parameters.add(form: Substring(query)) }
        if request.method == .post, try RouteSupport.mediaType(of: request) == "application/x-www-form-urlencoded" {
            let body = try await RouteSupport.collect(request, limit: maxFormBytes, tooLarge: "form bodies are limited to \(maxFormBytes) bytes")
            parameters.add(form: Substring(decoding: body, as: UTF8.self))
        }
        return parameters
    }

    /// Adds the pairs of `key=value&…` (application/x-www-form-urlencoded).
    private mutating func add(form: Substring) {
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.formDecode(parts[0])
            let value = parts.count > 1 ? Self.formDecode(parts[1]) : ""
            values[key, default: []].append(value)
        }
    }

    private static func formDecode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The last value given for `key`.
    subscript(key: String) -> String? { values[key]?.last }

    /// Every value given for `key`.
    func all(_ key: String) -> [String] { values[key] ?? [] }
}

/// Times as the Prometheus API takes them: Unix seconds with an optional fraction, or RFC 3339.
enum APITime {
    /// `text` in milliseconds since the epoch, or nil when it is neither form.
    static func milliseconds(_ text: String) -> Int64? {
        if let seconds = Double(text), seconds.isFinite {
            let milliseconds = (seconds * 1000).rounded()
            guard milliseconds > -9.2e18, milliseconds < 9.2e18 else { return nil }
            return Int64(milliseconds)
        }
        return date(rfc3339: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// The time `text` names when it is an RFC 3339 time with a zone (fractions allowed), else `nil`.
    static func date(rfc3339 text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
