import Alerting
import ArgumentParser
import Foundation

/// `claimsd rules …`: the rule files' own checks, compatible with promtool's.
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
            output("Checking \(file)\n")
            do {
                let rules = try RuleFile.load(path: file)
                let duplicates = rules.duplicateRules
                if !duplicates.isEmpty {
                    if lintFatal { lintFailed = true }
                    output("  FAILED:\n")
                    var text = "lint error \(duplicates.count) duplicate rule(s) found.\n"
                    for (name, labels) in duplicates {
                        text += "Metric: \(name)\nLabel(s):\n" + labels.map { "\t\($0.name): \($0.value)\n" }.joined()
                    }
                    FileHandle.standardError.write(Data((text + "Might cause inconsistency while recording expressions\n\n").utf8))
                    continue
                }
                output("  SUCCESS: \(rules.ruleCount) rules found\n\n")
            } catch {
                failed = true
                output("  FAILED:\n")
                FileHandle.standardError.write(Data((error.description + "\n\n").utf8))
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
            output("Unit Testing:  \(file)\n")
            let outcome = RuleUnitTests.run(path: file)
            if outcome.passed {
                output("  SUCCESS\n\n")
            } else {
                failed = true
                FileHandle.standardError.write(Data(("  FAILED:\n" + outcome.failures.map { $0 + "\n\n" }.joined() + "\n").utf8))
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// Unbuffered standard output, so that it interleaves with standard error as promtool's does.
private func output(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
