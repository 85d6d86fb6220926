import Foundation
import Testing
import TestSupport

/// `claimsd rules check` and `claimsd rules test` beside `promtool check rules` and
/// `promtool test rules` on the same files: the same exit status and the same report.
@Suite struct RulesCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(executable, arguments)
        let status = try await child.waitForExit(timeout: .seconds(300))
        return (status, child.standardOutput + child.standardError)
    }

    @Test func checkReportsLikePromtool() async throws {
        let directory = NSTemporaryDirectory() + "rules-cli-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = Self.repository + "/alerts/claimsd-api.yml"
        let duplicate = directory + "/duplicate.yml"
        try "groups:\n  - name: a\n    rules:\n      - record: y\n        expr: up\n      - record: y\n        expr: up * 2\n".write(
            toFile: duplicate, atomically: true, encoding: .utf8)
        let broken = directory + "/broken.yml"
        try "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n".write(toFile: broken, atomically: true, encoding: .utf8)
        for (files, lintFatal) in [([good], false), ([good, duplicate], false), ([duplicate], true), ([good, broken], false)] {
            let arguments = ["check", "rules"] + (lintFatal ? ["--lint-fatal"] : []) + files
            let ours = try await Self.run(ExecutableTests.binary.path, ["rules", "check"] + (lintFatal ? ["--lint-fatal"] : []) + files)
            let theirs = try await Self.run("promtool", arguments)
            #expect(ours.status == theirs.status, "\(arguments): claimsd \(ours.status), promtool \(theirs.status)")
            // The same report, the parse error's position and wording included.
            #expect(ours.output == theirs.output, "claimsd:\n\(ours.output)\npromtool:\n\(theirs.output)")
        }
    }

    @Test func testReportsLikePromtool() async throws {
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.repository + "/alerts/tests").filter { $0.hasSuffix(".yml") }.sorted()
            .map { Self.repository + "/alerts/tests/" + $0 }
        let passing = try await Self.run(ExecutableTests.binary.path, ["rules", "test"] + shipped)
        #expect(passing.status == 0)
        #expect(passing.output == (try await Self.run("promtool", ["test", "rules"] + shipped)).output)

        let directory = NSTemporaryDirectory() + "rules-cli-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Self.repository + "/alerts/claimsd-host.yml", toPath: directory + "/claimsd-host.yml")
        try FileManager.default.createDirectory(atPath: directory + "/tests", withIntermediateDirectories: true)
        let test = try String(contentsOfFile: Self.repository + "/alerts/tests/claimsd-host-test.yml", encoding: .utf8)
        try test.replacingOccurrences(of: "(95% now)", with: "(96% now)").write(toFile: directory + "/tests/wrong.yml", atomically: true, encoding: .utf8)
        let ours = try await Self.run(ExecutableTests.binary.path, ["rules", "test", directory + "/tests/wrong.yml"])
        let theirs = try await Self.run("promtool", ["test", "rules", directory + "/tests/wrong.yml"])
        #expect(ours.status == 1 && theirs.status == 1)
        #expect(ours.output == theirs.output, "claimsd:\n\(ours.output)\npromtool:\n\(theirs.output)")
    }
}
