import ClaimStore
import Claims
import Foundation
import Hummingbird
import HummingbirdCore

/// Reads and checks the query string of `GET /api/v1/claims`.
enum ClaimListParameters {
    static let maxLimit = 500

    /// The list query, or a 400 problem naming every bad parameter.
    static func parse(_ parameters: FlatDictionary<Substring, Substring>) throws -> ClaimListQuery {
        var query = ClaimListQuery()
        var problems: [String] = []
        if let npi = parameters.get("provider_npi") {
            if npi.count == 10, npi.allSatisfy({ $0.isASCII && $0.isNumber }) { query.providerNPI = npi } else { problems.append("provider_npi must be 10 digits") }
        }
        if let status = parameters.get("status") {
            if let parsed = ClaimStatus(rawValue: status) {
                query.status = parsed
            } else {
                problems.append("status must be one of \(ClaimStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        for (name, keyPath) in [("service_date_from", \ClaimListQuery.serviceDateFrom), ("service_date_to", \ClaimListQuery.serviceDateTo)] {
            guard let text = parameters.get(name) else { continue }
            if let date = CalendarDate(parsing: text) { query[keyPath: keyPath] = date } else { problems.append("\(name) must be a date like 2018-03-28") }
        }
        if let limit = parameters.get("limit") {
            if let number = Int(limit), (1...maxLimit).contains(number) { query.limit = number } else { problems.append("limit must be 1–\(maxLimit)") }
        }
        if let cursor = parameters.get("cursor") {
            if let id = after(cursor: cursor) { query.after = id } else { problems.append("cursor is not one this service returned") }
        }
        guard problems.isEmpty else {
            throw Problem(status: .badRequest, detail: problems.joined(separator: "; "), type: ProblemType.invalidQuery, title: "Invalid query")
        }
        return query
    }

    /// An opaque cursor naming the last claim of a page.
    static func cursor(after id: UUID) -> String {
        Data("v1:\(id.uuidString.lowercased())".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func after(cursor: String) -> UUID? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8), text.hasPrefix("v1:") else { return nil }
        return UUID(uuidString: String(text.dropFirst(3)))
    }
}
