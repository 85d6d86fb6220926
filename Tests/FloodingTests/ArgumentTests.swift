import ArgumentParser
import Flooding
import OutboundHTTP
import Testing

/// The tools keep the original scripts' flags and defaults, and refuse bad values with a message
/// naming the option (the original crashed on `-b 0`).
struct ArgumentTests {
    /// The message ArgumentParser prints for a refused command line.
    static func refusal<Command: ParsableCommand>(_ type: Command.Type, _ arguments: [String]) -> String? {
        do {
            var command = try type.parseAsRoot(arguments)
            try command.validate()
            return nil
        } catch {
            return type.message(for: error)
        }
    }

    @Test func floodLokiDefaultsAreTheOriginalScripts() throws {
        let command = try FloodLokiCommand.parse([])
        #expect(command.numEntries == 100)
        #expect(command.batchSize == 10)
        #expect(command.interval == nil)
        #expect(command.errorType == .serverErrors)
        #expect(command.lokiURL == "http://localhost:3100/loki/api/v1/push")
        #expect(try Pacing.from(interval: command.interval, rate: command.rate, defaultInterval: 0.5) == .interval(.milliseconds(500)))
        let short = try FloodLokiCommand.parse(["-n", "7", "-b", "3", "-i", "0.25", "-t", "both", "-u", "http://loki:3100/loki/api/v1/push"])
        #expect(short.numEntries == 7 && short.batchSize == 3 && short.interval == 0.25 && short.errorType == .both)
        #expect(short.lokiURL == "http://loki:3100/loki/api/v1/push")
    }

    @Test(arguments: [
        (["-b", "0"], "--batch-size must be between 1 and 100000, got 0"),
        (["--num-entries=-5"], "--num-entries must be between 1"),
        (["-i", "1", "--rate", "5"], "give --interval or --rate, not both"),
        (["--rate", "0"], "--rate must be a positive number"),
        (["--interval=-1"], "--interval must be between 0 and 3600 seconds"),
        (["-t", "3xx"], "3xx"),
        (["-u", "https://loki/push"], "https is not supported"),
        (["-u", "loki:3100"], "is not an http://host[:port]/path URL"),
        (["--timeout", "0"], "--timeout must be between 0 and 300 seconds"),
        (["--retries", "99"], "--retries must be between 0 and 20"),
        (["--tenant", ""], "--tenant must be a non-empty single line"),
    ])
    func floodLokiRefusesBadValues(arguments: [String], message: String) {
        let refusal = Self.refusal(FloodLokiCommand.self, arguments)
        #expect(refusal?.contains(message) == true, "\(arguments): \(refusal ?? "accepted")")
    }

    @Test func generateErrorLogsDefaultsAndRefusals() throws {
        let command = try GenerateErrorLogsCommand.parse(["--stdout"])
        #expect(command.numEntries == 100 && command.interval == 0.1 && command.errorType == .both && command.identifier == "claimsd")
        #expect(try GenerateErrorLogsCommand.parse(["-u", "http://127.0.0.1:9/logs"]).targetURL == "http://127.0.0.1:9/logs")
        #expect(Self.refusal(GenerateErrorLogsCommand.self, ["--stdout", "-u", "http://x/"])?.contains("choose one destination") == true)
        #expect(Self.refusal(GenerateErrorLogsCommand.self, ["--stdout", "-n", "0"])?.contains("--num-entries must be between 1") == true)
        #expect(Self.refusal(GenerateErrorLogsCommand.self, ["--stdout", "--identifier", "two words"])?.contains("--identifier") == true)
    }

    @Test func floodAPIDefaultsBoundsAndLoopback() throws {
        let command = try FloodAPICommand.parse([])
        #expect(command.numRequests == nil && command.concurrency == 4 && command.errorType == .serverErrors && command.url == "http://127.0.0.1:8000")
        #expect(Self.refusal(FloodAPICommand.self, ["-u", "http://10.1.2.3:8000"])?.contains("needs --allow-remote") == true)
        #expect(Self.refusal(FloodAPICommand.self, ["-u", "http://10.1.2.3:8000", "--allow-remote"]) == nil)
        #expect(Self.refusal(FloodAPICommand.self, ["-u", "http://localhost:8000", "-c", "3"]) == nil)
        #expect(Self.refusal(FloodAPICommand.self, ["-c", "0"])?.contains("--concurrency must be between 1 and 256") == true)
        #expect(Self.refusal(FloodAPICommand.self, ["-d", "7200"])?.contains("--duration must be more than 0 and at most 3600") == true)
        #expect(Self.refusal(FloodAPICommand.self, ["-n", "0"])?.contains("--num-requests must be between 1") == true)
        #expect(FloodAPICommand.isLoopback("127.0.0.1") && FloodAPICommand.isLoopback("::1") && !FloodAPICommand.isLoopback("claimsd.internal"))
    }
}
