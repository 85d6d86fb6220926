import Alerting
import ArgumentParser
import Foundation

/// `claimsd rules …`: the rule files' own checks, compatible with promtool's (same reports on
/// the same streams, same exit statuses).
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check rule files and run their unit tests, as 'promtool check rules' and 'promtool test rules' do.",
        subcommands: [RulesCheck.self, RulesTest.self]
    )
}

struct RulesCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that rule files parse and their expressions and templates are valid.",
        discussion: "Prints each file's result; exits 1 when any file fails, like 'promtool check rules'."
    )

    @Argument(help: "Rule files (Prometheus 2.42 format).")
    var files: [String]

    @Flag(help: "Exit 3 when the duplicate-rules lint finds something (as promtool's --lint-fatal).")
    var lintFatal = false

    func run() throws {
        var failed = false
        var lintFailed = false
        for file in files {
            standardOutput("Checking \(file)\n")
            do {
                let rules = try RuleFile.load(path: file)
                let duplicates = rules.duplicateRules
                guard duplicates.isEmpty else {
                    if lintFatal { lintFailed = true }
                    var text = "  FAILED:\nlint error \(duplicates.count) duplicate rule(s) found.\n"
                    for (name, labels) in duplicates {
                        text += "Metric: \(name)\nLabel(s):\n" + labels.map { "\t\($0.name): \($0.value)\n" }.joined()
                    }
                    standardError(text + "Might cause inconsistency while recording expressions\n")
                    standardOutput("\n")
                    continue
                }
                standardOutput("  SUCCESS: \(rules.ruleCount) rules found\n\n")
            } catch {
                failed = true
                standardError("  FAILED:\n" + error.problems.map { "\(error.path): \($0)\n" }.joined())
                standardOutput("\n")
            }
        }
        if failed { throw ExitCode(1) }
        if lintFailed { throw ExitCode(3) }
    }
}

struct RulesTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run rule unit tests written in promtool's format.",
        discussion: "Prints each file's result and every failing expectation; exits 1 when any test fails, like 'promtool test rules'."
    )

    @Argument(help: "Unit-test files (promtool's format; rule_files are relative to each test file).")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            standardOutput("Unit Testing:  \(file)\n")
            let outcome = RuleUnitTests.run(path: file)
            if outcome.passed {
                standardOutput("  SUCCESS\n\n")
            } else {
                failed = true
                standardError("  FAILED:\n" + outcome.failures.map { $0 + "\n" }.joined())
                standardOutput(String(repeating: "\n", count: outcome.failures.count + 1))
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// Unbuffered writes, so the two streams interleave as promtool's do.
private func standardOutput(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

private func standardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
