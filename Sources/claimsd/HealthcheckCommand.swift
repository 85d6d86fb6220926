import ArgumentParser
import Foundation
import NIOSSL
import OutboundHTTP

/// `claimsd healthcheck`: asks a running claimsd whether it is healthy, for container health
/// checks in images without curl. Exit 0 on a 2xx answer, 1 otherwise.
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running claimsd for /health (or another path); exit 0 on a 2xx answer, 1 otherwise.")

    @Option(help: "The URL to ask (https:// when CLAIMS_TLS_CERT is set).")
    var url: String = Healthcheck.defaultURL(environment: ProcessInfo.processInfo.environment)

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    func validate() throws {
        guard OutboundURL(url, allowingHTTPS: true) != nil else { throw ValidationError("--url \(url) is not an http(s)://host:port/path URL") }
        guard (1...60).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 60 seconds") }
    }

    func run() async throws {
        guard let target = OutboundURL(url, allowingHTTPS: true) else { throw ExitCode.validationFailure }
        var tls = TLSConfiguration.makeClientConfiguration()
        // Asking this machine's own claimsd whether it is up: its certificate names the service,
        // not 127.0.0.1, and nothing secret is sent, so it is not checked.
        if ["127.0.0.1", "::1", "localhost"].contains(target.host) { tls.certificateVerification = .none }
        do {
            let response = try await HTTPExchange.send("GET", to: target, timeout: .seconds(timeout), maxBodyBytes: 64 << 10, tls: tls)
            print("claimsd healthcheck: \(target) answered \(response.status)")
            if !(200..<300).contains(response.status) { throw ExitCode.failure }
        } catch let error as OutboundHTTPError {
            FileHandle.standardError.write(Data("claimsd healthcheck: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

extension Healthcheck {
    /// `/health` of the claimsd on this machine: the port of `CLAIMS_PORT`, https when
    /// `CLAIMS_TLS_CERT` is set.
    static func defaultURL(environment: [String: String]) -> String {
        let scheme = (environment["CLAIMS_TLS_CERT"] ?? "").isEmpty ? "http" : "https"
        return "\(scheme)://127.0.0.1:\(environment["CLAIMS_PORT"] ?? "8000")/health"
    }
}
