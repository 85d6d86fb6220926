import CLibPQ
import Glibc
import NIOPosix
public import Pooling

/// One libpq connection.
///
/// It is `@unchecked Sendable` because the pool lends it to one task at a time and every libpq
/// call on it runs on the client's dedicated thread pool, never on the shared concurrency pool
/// or an event loop. Obtain connections from ``PostgresClient``; the closure that receives one
/// must not keep it.
public final class PostgresConnection: PooledConnection, @unchecked Sendable {
    private let handle: OpaquePointer
    private let threadPool: NIOThreadPool
    /// Touched only by the task that holds the connection, on the thread pool.
    private var statements = StatementCache()

    private init(handle: OpaquePointer, threadPool: NIOThreadPool) {
        self.handle = handle
        self.threadPool = threadPool
    }

    /// Opens a connection on the thread pool; throws `.connectionFailed` with libpq's reason.
    static func connect(conninfo: String, threadPool: NIOThreadPool) async throws -> PostgresConnection {
        try await threadPool.runIfActive {
            guard let handle = PQconnectdb(conninfo) else {
                throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
            }
            guard PQstatus(handle) == CONNECTION_OK else {
                let message = Self.message(PQerrorMessage(handle))
                PQfinish(handle)
                throw PostgresError(code: .connectionFailed, message: message)
            }
            // libpq prints NOTICEs to stderr by default; they are not errors and must not mix
            // into the service's structured output.
            PQsetNoticeProcessor(handle, { _, _ in }, nil)
            return PostgresConnection(handle: handle, threadPool: threadPool)
        }
    }

    /// Runs one parameterized statement and copies its result out.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        try await threadPool.runIfActive { try self.runQuery(query) }
    }

    /// Runs SQL text that may hold several statements (simple query protocol), e.g. a migration
    /// file. Takes no parameters: never build `script` from user input.
    public func execute(script: String) async throws {
        try await threadPool.runIfActive {
            let result = PQexec(self.handle, script)
            defer { PQclear(result) }
            try self.check(result)
        }
    }

    /// Streams `rows` to a `COPY … FROM STDIN` statement in text format and returns the number
    /// of rows the server stored. Each row lists its column values in the statement's column
    /// order; `nil` is NULL.
    @discardableResult
    public func copyFrom(_ statement: String, rows: [[String?]]) async throws -> Int {
        try await copyFrom(statement, rows: CopyRows(rows))
    }

    /// Streams rows encoded beforehand (see ``CopyRows``) to a `COPY … FROM STDIN` statement.
    @discardableResult
    public func copyFrom(_ statement: String, rows: CopyRows) async throws -> Int {
        try await threadPool.runIfActive { try self.runCopy(statement, data: rows.text) }
    }

    // MARK: - PooledConnection

    public var isHealthy: Bool {
        guard PQstatus(handle) == CONNECTION_OK else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        // An idle connection that became readable got a notice or, when the server shut down,
        // a termination message followed by EOF. Consume until nothing is left: the read that
        // meets EOF fails and marks the connection bad, all without a round trip.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 0)
            if ready == 0 { return PQstatus(handle) == CONNECTION_OK }
            if ready < 0 || PQconsumeInput(handle) == 0 { return false }
        }
        // Still readable after several reads: the server keeps talking to an idle session.
        return false
    }

    public var isReusable: Bool {
        PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
    }

    public func close() {
        PQfinish(handle)
    }

    // MARK: - Blocking libpq calls (thread pool only)

    private func runQuery(_ query: PostgresQuery) throws -> PostgresResult {
        let name = try preparedStatement(for: query)
        let parameters = query.binds.map { $0.flatMap { strdup($0) } }
        defer { parameters.forEach { free($0) } }
        let result = parameters.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
            PQexecPrepared(handle, name, Int32(values.count), values.baseAddress, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result)
        return Self.copyResult(result)
    }

    /// The name of this session's prepared statement for `query`'s SQL, preparing it on first
    /// use: the server then parses and analyzes each distinct statement once per connection,
    /// not on every call. The least recently used statements are deallocated beyond
    /// ``statementCacheSize``.
    private func preparedStatement(for query: PostgresQuery) throws -> String {
        if let name = statements.names[query.sql] {
            statements.touch(query.sql)
            return name
        }
        statements.counter += 1
        let name = "claimsd_\(statements.counter)"
        let prepared = PQprepare(handle, name, query.sql, Int32(query.binds.count), nil)
        defer { PQclear(prepared) }
        try check(prepared)
        statements.names[query.sql] = name
        statements.recent.append(query.sql)
        if statements.recent.count > Self.statementCacheSize {
            let evicted = statements.recent.removeFirst()
            if let old = statements.names.removeValue(forKey: evicted) {
                PQclear(PQexec(handle, "DEALLOCATE \(old)"))
            }
        }
        return name
    }

    /// Most prepared statements kept per connection.
    static let statementCacheSize = 128

    /// Prepared statements of this session, by SQL text, least recently used first.
    struct StatementCache {
        var names: [String: String] = [:]
        var recent: [String] = []
        var counter = 0

        mutating func touch(_ sql: String) {
            guard recent.last != sql, let index = recent.lastIndex(of: sql) else { return }
            recent.remove(at: index)
            recent.append(sql)
        }
    }

    private func runCopy(_ statement: String, data: [UInt8]) throws -> Int {
        let start = PQexec(handle, statement)
        let startStatus = PQresultStatus(start)
        if startStatus != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start)
            throw PostgresError(code: .copyFailed, message: "statement is not a COPY … FROM STDIN")
        }
        PQclear(start)

        var sendFailed = false
        data.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { text in
                var offset = 0
                while offset < text.count, !sendFailed {
                    let length = min(Self.copyChunkSize, text.count - offset)
                    sendFailed = PQputCopyData(handle, text.baseAddress.map { $0 + offset }, Int32(length)) != 1
                    offset += length
                }
            }
        }
        if sendFailed || PQputCopyEnd(handle, nil) != 1 {
            throw PostgresError(code: .copyFailed, message: Self.message(PQerrorMessage(handle)))
        }

        var copied = 0
        var failure: (any Error)?
        while let result = PQgetResult(handle) {
            do {
                try check(result)
                copied = Self.affectedRows(result) ?? copied
            } catch {
                failure = failure ?? error
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return copied
    }

    private static let copyChunkSize = 256 * 1024

    /// Throws the error a result carries, telling a lost connection from a server error.
    private func check(_ result: OpaquePointer?) throws {
        guard let result else {
            throw PostgresError(code: .connectionLost, message: Self.message(PQerrorMessage(handle)))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_COPY_OUT:
            return
        default:
            let message = Self.message(PQresultErrorMessage(result))
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            if PQstatus(handle) != CONNECTION_OK {
                throw PostgresError(code: .connectionLost, message: message, sqlState: sqlState)
            }
            throw PostgresError(code: sqlState == nil ? .connectionLost : .server, message: message, sqlState: sqlState)
        }
    }

    private static func copyResult(_ result: OpaquePointer?) -> PostgresResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            var fields: [String?] = []
            fields.reserveCapacity(columnCount)
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) == 1 {
                    fields.append(nil)
                } else {
                    fields.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
            values.append(fields)
        }
        return PostgresResult(columns: columns, values: values, affectedRows: affectedRows(result))
    }

    private static func affectedRows(_ result: OpaquePointer?) -> Int? {
        guard let text = PQcmdTuples(result) else { return nil }
        return Int(String(cString: text))
    }

    static func message(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown libpq error" }
        let message = String(cString: text)
        return String(message.reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// Rows in PostgreSQL's COPY text format, encoded ahead of the `COPY` that sends them, so a
/// transaction holds its connection only while the bytes travel.
public struct CopyRows: Sendable {
    /// The encoded rows, each terminated by a newline.
    public private(set) var text: [UInt8] = []
    /// How many rows `text` holds.
    public private(set) var count = 0

    /// Each row lists its column values in the COPY statement's column order; `nil` is NULL.
    public init(_ rows: [[String?]] = []) {
        for row in rows { append(row) }
    }

    public mutating func append(_ row: [String?]) {
        CopyTextFormat.append(row: row, to: &text)
        count += 1
    }

    public var isEmpty: Bool { count == 0 }
}

/// PostgreSQL's COPY text format: tab-separated columns, `\N` for NULL, backslash escapes.
enum CopyTextFormat {
    /// Appends one row, terminated by a newline, to `buffer`.
    static func append(row: [String?], to buffer: inout [UInt8]) {
        for (position, value) in row.enumerated() {
            if position > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard let value else {
                buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            let utf8 = value.utf8
            // Most values need no escaping: copy them whole.
            if !utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                buffer.append(contentsOf: utf8)
                continue
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(UInt8(ascii: "\n"))
    }
}
