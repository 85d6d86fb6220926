public import ArgumentParser
import Glibc
import OutboundHTTP
import Synchronization

/// `flood-api`: real errors through a running claimsd, so its metrics, access log and in-process
/// alerts all see them. Client errors come from requests claimsd refuses (an invalid claim, an
/// unknown id, an unsupported media type, a rate-limited route); server errors from its
/// fault-injection switch (`CLAIMS_FAULT_INJECTION=on`), which turns `X-Claimsd-Fault: 503`
/// into a 503 on the route asked.
public struct FloodAPICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flood-api",
        abstract: "Drive real 4xx and 5xx responses through a running claimsd, to test its alerts.",
        discussion: """
            4xx: POST /api/v1/claims with an invalid claim (422) or an XML body (415), GET of an unknown claim \
            (404), GET /api/v1/providers/top past its rate limit (429). 5xx: requests with X-Claimsd-Fault, \
            answered with that status only when claimsd runs with CLAIMS_FAULT_INJECTION=on. Bounded by \
            --num-requests and --duration; loopback only unless --allow-remote. Exits 0 when every request \
            got the kind of answer it was meant to provoke, 1 otherwise.
            """)

    @Option(name: .shortAndLong, help: "Requests to send (default 100, or unbounded within --duration).")
    public var numRequests: Int?

    @Option(name: .shortAndLong, help: "Requests in flight at once.")
    public var concurrency: Int = 4

    @Option(name: .shortAndLong, help: "Stop after this many seconds.")
    public var duration: Double?

    @Option(name: [.customShort("t"), .long], help: "Which errors: 4xx, 5xx or both.")
    public var errorType: ErrorKind = .serverErrors

    @Option(help: "Requests per second across all connections (default: as fast as answers come).")
    public var rate: Double?

    @Option(name: [.customShort("u"), .long], help: "claimsd's base URL.")
    public var url: String = "http://127.0.0.1:8000"

    @Flag(help: "Allow a claimsd that is not on this machine (loopback).")
    public var allowRemote = false

    @Option(help: "API key sent as a bearer token (default: $CLAIMS_API_KEY; a key on the command line shows in ps).")
    public var apiKey: String?

    @OptionGroup public var options: FloodOptions

    public init() {}

    /// Most requests one run may send, whatever the options.
    public static let maxRequests = 10_000_000
    /// Longest a run may last.
    public static let maxSeconds = 3600.0

    public func validate() throws {
        if let numRequests, !(1...Self.maxRequests).contains(numRequests) {
            throw ValidationError("--num-requests must be between 1 and \(Self.maxRequests), got \(numRequests)")
        }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 256, got \(concurrency)") }
        if let duration, !(duration > 0 && duration <= Self.maxSeconds) {
            throw ValidationError("--duration must be more than 0 and at most \(Int(Self.maxSeconds)) seconds, got \(duration)")
        }
        if let rate, !(rate > 0 && rate <= 1_000_000) { throw ValidationError("--rate must be between 0 and 1000000 requests per second, got \(rate)") }
        let base = try OutboundURL.option(url, name: "--url")
        if !allowRemote, !Self.isLoopback(base.host) {
            throw ValidationError("--url \(url) is not on this machine; flooding another host needs --allow-remote")
        }
    }

    /// Whether `host` names this machine's loopback interface.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The request bound: -n, else 100 without --duration, else only the hard cap.
    var requestLimit: Int { numRequests ?? (duration == nil ? 100 : Self.maxRequests) }

    public func run() async throws {
        let base = try OutboundURL.option(url, name: "--url")
        let seed = options.effectiveSeed
        let limit = requestLimit
        let timeBound = Duration.milliseconds(Int64(((duration ?? Self.maxSeconds) * 1000).rounded()))
        let progress = ProgressReporter(unit: "requests", total: numRequests ?? (duration == nil ? limit : nil), quiet: options.quiet)
        let key = apiKey ?? getenv("CLAIMS_API_KEY").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        let run = FloodRun(base: base, kind: errorType, seed: seed, timeout: options.timeout, apiKey: key)
        let started = ContinuousClock.now
        let deadline = started.advanced(by: timeBound)
        let rate = self.rate
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while !Task.isCancelled {
                        let index = run.claimIndex()
                        guard index < limit, ContinuousClock.now < deadline else { return }
                        if let rate {
                            let start = started.advanced(by: .nanoseconds(Int64((Double(index) / rate * 1e9).rounded())))
                            guard start < deadline else { return }
                            if start > .now { try? await Task.sleep(until: start) }
                        }
                        progress.update(await run.send(index))
                    }
                }
            }
        }
        let (counts, problems) = run.result
        progress.update(counts, final: true)
        try options.finish(
            FloodSummary(tool: "flood-api", target: base.description, seed: seed, counts: counts, duration: ContinuousClock.now - started, problems: problems))
    }
}

/// One request meant to provoke a given answer.
struct Provocation: Sendable {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: [UInt8]
    /// Statuses that mean the provocation worked.
    var expected: Set<Int>

    /// The `index`-th request of a run with `seed`: chosen from its own generator, so a run
    /// repeats exactly whatever the concurrency.
    static func make(kind: ErrorKind, seed: UInt64, index: Int) -> Provocation {
        var random = SeededGenerator(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let serverError: Bool
        switch kind {
        case .clientErrors: serverError = false
        case .serverErrors: serverError = true
        case .both: serverError = random.next() % 2 == 0
        }
        let claimID = random.uuid()
        if serverError {
            let status = ErrorKind.serverStatuses[Int(random.next() % UInt64(ErrorKind.serverStatuses.count))]
            let fault = [("X-Claimsd-Fault", String(status))]
            switch random.next() % 3 {
            case 0: return Provocation(method: "GET", path: "/api/v1/claims/\(claimID)", headers: fault, body: [], expected: [status])
            case 1: return Provocation(method: "GET", path: "/api/v1/claims?limit=10", headers: fault, body: [], expected: [status])
            default:
                return Provocation(
                    method: "POST", path: "/api/v1/claims", headers: fault + [("Content-Type", "application/json")], body: Array("{}".utf8),
                    expected: [status])
            }
        }
        switch random.next() % 4 {
        case 0:
            // Every field wrong: a 422 naming each problem, nothing stored.
            let body = #"{"claim_id":"\#(claimID)","provider_npi":"not-an-npi","service_date":"yesterday","lines":[]}"#
            return Provocation(method: "POST", path: "/api/v1/claims", headers: [("Content-Type", "application/json")], body: Array(body.utf8), expected: [422])
        case 1:
            return Provocation(method: "GET", path: "/api/v1/claims/\(claimID)", headers: [], body: [], expected: [404])
        case 2:
            return Provocation(
                method: "POST", path: "/api/v1/claims", headers: [("Content-Type", "application/xml")], body: Array("<claim/>".utf8), expected: [415])
        default:
            // Allowed until the route's window is full, refused after: both are what the route promises.
            return Provocation(method: "GET", path: "/api/v1/providers/top", headers: [], body: [], expected: [429, 200])
        }
    }
}

/// The requests of one flood-api run and what they got.
final class FloodRun: Sendable {
    let base: OutboundURL
    let kind: ErrorKind
    let seed: UInt64
    let timeout: Duration
    /// The base URL's path without its trailing slash, put before every request's path.
    let pathPrefix: String
    /// Sent as `Authorization: Bearer …` with every request, when given.
    let apiKey: String?
    private let state = Mutex((counts: FloodCounts(), problems: [String]()))
    private let nextIndex = Atomic<Int>(0)

    init(base: OutboundURL, kind: ErrorKind, seed: UInt64, timeout: Duration, apiKey: String? = nil) {
        self.base = base
        self.kind = kind
        self.seed = seed
        self.timeout = timeout
        self.apiKey = apiKey
        self.pathPrefix = base.target == "/" ? "" : String(base.target.reversed().drop { $0 == "/" }.reversed())
    }

    /// The index of the next request to send (each index is handed out once).
    func claimIndex() -> Int { nextIndex.add(1, ordering: .relaxed).oldValue }

    var result: (FloodCounts, [String]) { state.withLock { ($0.counts, $0.problems) } }

    /// Sends request `index`; returns the counts so far.
    func send(_ index: Int) async -> FloodCounts {
        var provocation = Provocation.make(kind: kind, seed: seed, index: index)
        if let apiKey { provocation.headers.append(("Authorization", "Bearer " + apiKey)) }
        let url = OutboundURL(host: base.host, port: base.port, target: pathPrefix + provocation.path)
        var problem: String?
        var status: Int?
        do {
            let response = try await HTTPExchange.send(
                provocation.method, to: url, headers: provocation.headers, body: provocation.body, timeout: timeout, maxBodyBytes: 1 << 20)
            status = response.status
            if !provocation.expected.contains(response.status) {
                let injected = String(decoding: response.body, as: UTF8.self).contains("injected-fault")
                problem = response.status == 401
                    ? (apiKey == nil
                        ? "claimsd requires authentication: pass --api-key or set CLAIMS_API_KEY (claimsd api-keys create --role provider --npi …)"
                        : "claimsd refused the API key (401): it is unknown, revoked or expired")
                    : provocation.headers.contains(where: { $0.0 == "X-Claimsd-Fault" }) && !injected
                    ? "claimsd answered \(response.status), not the injected fault: start it with CLAIMS_FAULT_INJECTION=on"
                    : "\(provocation.method) \(provocation.path) answered \(response.status), expected \(provocation.expected.sorted().map(String.init).joined(separator: " or "))"
            }
        } catch {
            problem = error.description
        }
        return state.withLock { state in
            if let status { state.counts.statuses[status, default: 0] += 1 }
            if let problem {
                state.counts.failed += 1
                if state.problems.count < 5, !state.problems.contains(problem) { state.problems.append(problem) }
            } else {
                state.counts.sent += 1
            }
            return state.counts
        }
    }
}
