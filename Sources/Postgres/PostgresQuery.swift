/// A SQL statement whose interpolated values are sent as bind parameters, never spliced into
/// the SQL text.
///
/// ```swift
/// let query: PostgresQuery = "SELECT id FROM claims WHERE provider_npi = \(npi) LIMIT \(limit)"
/// // sql: "SELECT id FROM claims WHERE provider_npi = $1 LIMIT $2", binds: [npi, limit]
/// ```
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    /// The statement text with `$1`, `$2`, … placeholders.
    public var sql: String
    /// The parameter values in text format; `nil` is SQL NULL.
    public var binds: [String?]

    /// A statement with explicit placeholders and parameters.
    public init(sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(sql: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(sql: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// Builds the statement text and its binds from an interpolated literal.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends a bind parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        /// Appends a bind parameter that may be SQL NULL.
        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Appends trusted SQL text written in the code (a column expression, a fixed fragment).
        /// Never pass user input here.
        public mutating func appendInterpolation(unescaped fragment: String) {
            sql += fragment
        }

        /// Appends a SQL identifier (table or column name), quoted so it cannot end the identifier.
        public mutating func appendInterpolation(identifier: String) {
            sql += "\"" + identifier.replacingAll("\"", with: "\"\"") + "\""
        }
    }
}

extension String {
    /// This string with every occurrence of `target` replaced (no Foundation needed).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        result.reserveCapacity(utf8.count)
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}

/// Bind values for one statement built piece by piece, and the placeholders that refer to them.
public struct PostgresBindList: Sendable {
    /// The values, in placeholder order.
    public private(set) var values: [String?] = []

    public init() {}

    /// `$n::type` for one value.
    public mutating func value(_ value: String?, type: String) -> String {
        values.append(value)
        return "$\(values.count)::\(type)"
    }

    /// `unnest($n::type[], …)` over the columns of `rows`, each column sent as one array
    /// literal: the placeholders, and so the statement text, do not depend on the row count.
    public mutating func unnest(_ rows: [[String?]], types: [String]) -> String {
        let arrays = types.enumerated().map { column, type in value(postgresArrayLiteral(rows.map { $0[column] }), type: type + "[]") }
        return "unnest(" + arrays.joined(separator: ", ") + ")"
    }
}
