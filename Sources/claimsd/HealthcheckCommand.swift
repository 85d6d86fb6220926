import ArgumentParser
import Foundation
import OutboundHTTP

/// `claimsd healthcheck`: asks a running claimsd whether it is healthy, for container health
/// checks in images without curl. Exit 0 on a 2xx answer, 1 otherwise.
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running claimsd for /health (or another path); exit 0 on a 2xx answer, 1 otherwise.")

    @Option(help: "The URL to ask.")
    var url: String = "http://127.0.0.1:\(ProcessInfo.processInfo.environment["CLAIMS_PORT"] ?? "8000")/health"

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    func validate() throws {
        guard OutboundURL(url) != nil else { throw ValidationError("--url \(url) is not an http://host:port/path URL") }
        guard (1...60).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 60 seconds") }
    }

    func run() async throws {
        guard let target = OutboundURL(url) else { throw ExitCode.validationFailure }
        do {
            let response = try await HTTPExchange.send("GET", to: target, timeout: .seconds(timeout), maxBodyBytes: 64 << 10)
            print("claimsd healthcheck: \(target) answered \(response.status)")
            if !(200..<300).contains(response.status) { throw ExitCode.failure }
        } catch let error as OutboundHTTPError {
            FileHandle.standardError.write(Data("claimsd healthcheck: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
