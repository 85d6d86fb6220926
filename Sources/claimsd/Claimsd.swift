import App
import ArgumentParser
import Foundation
import Hummingbird
import Journal
import Logging
import Schema

@main
struct Claimsd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claimsd",
        abstract: "Healthcare claims service: intake, pricing, provider ranking and self-monitoring.",
        discussion: """
            Settings come from the environment; each setting's option overrides its variable, in \
            any position and for every command (claimsd --port 9000; claimsd import f.csv \
            --database-url …). The settings:

            """ + ServiceConfiguration.Setting.helpText,
        subcommands: [Serve.self, Migrate.self, Import.self, Users.self, APIKeys.self, JWTKeys.self, DataKeys.self, Audit.self, TSDB.self, Rules.self, Healthcheck.self],
        defaultSubcommand: Serve.self
    )

    /// Takes the setting options out of the command line into the environment, then runs the
    /// command the rest names.
    static func main() async {
        let arguments: SettingArguments
        do {
            arguments = try SettingArguments.extract(from: Array(CommandLine.arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("claimsd: \(error)\n".utf8))
            Foundation.exit(64)
        }
        // Before any thread starts: the environment is read once, by loadConfiguration().
        for (name, value) in arguments.overrides { setenv(name, value, 1) }
        await main(arguments.remaining)
    }
}

/// The validated configuration from the environment, with any setting options of the command
/// line already laid over it (``Claimsd/main()``), or exit 78 (EX_CONFIG) with one line saying
/// what is wrong. `requiringDataKeys`: a command that reads or writes claim data also needs the
/// data keyring.
func loadConfiguration(requiringDataKeys: Bool = false) throws -> ServiceConfiguration {
    do {
        let configuration = try ServiceConfiguration.load(environment: ProcessInfo.processInfo.environment)
        if requiringDataKeys { _ = try configuration.requiredDataKeyring }
        return configuration
    } catch {
        FileHandle.standardError.write(Data("claimsd: configuration error: \(error)\n".utf8))
        throw ExitCode(78)
    }
}

/// Sends swift-log output to journald or stdout as JSON, counting records by level into
/// `telemetry` when given, and returns the root logger. With telemetry off, records below
/// `error` are dropped and nothing is counted.
func bootstrapLogging(_ configuration: ServiceConfiguration, telemetry: Telemetry? = nil) -> Logger {
    let sink = configuration.logTarget.makeSink(identifier: "claimsd")
    let level = configuration.telemetryEnabled ? configuration.logLevel : max(configuration.logLevel, .error)
    let counters = telemetry.flatMap { $0.isEnabled ? LogLevelCounters(factory: $0.factory) : nil }
    LoggingSystem.bootstrap { label in JournalLogHandler(label: label, sink: sink, level: level, counters: counters) }
    var logger = Logger(label: "claimsd")
    logger.logLevel = level
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (the default).")

    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let telemetry = Telemetry(enabled: configuration.telemetryEnabled)
        let logger = bootstrapLogging(configuration, telemetry: telemetry)
        logger.info(
            "configuration loaded",
            metadata: [
                "event": "configuration_loaded", "host": "\(configuration.host)", "port": "\(configuration.port)",
                "log_target": "\(configuration.logTarget.rawValue)", "migrate_on_start": "\(configuration.migrateOnStart)",
                "relay": "\(configuration.relayEnabled)", "telemetry": "\(configuration.telemetryEnabled)", "rate_limits": "\(configuration.rateLimits.map { "\($0.method) \($0.route)=\($0.policy)" })",
            ])
        do {
            let app = try await buildApplication(configuration: configuration, logger: logger, telemetry: telemetry)
            try await app.runService()
            logger.info("claimsd stopped", metadata: ["event": "shutdown_complete"])
        } catch {
            logger.critical("claimsd stopped", metadata: ["event": "startup_failed", "error": "\(error)"])
            // Also where whoever started it looks, whatever the log target.
            FileHandle.standardError.write(Data("claimsd: start-up failed: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")


    func run() async throws {
        let configuration = try loadConfiguration(requiringDataKeys: true)
        let logger = bootstrapLogging(configuration)
        let dependencies = try AppDependencies(configuration: configuration, logger: logger)
        var failure: (any Error)?
        do {
            try await dependencies.prepareDatabase(migrating: true, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
            let versions = try await dependencies.migrator(logger: logger).appliedVersions().keys.sorted()
            print("claimsd: schema at version \(versions.last ?? 0) (\(versions.count) migrations applied)")
        } catch {
            failure = error
        }
        await dependencies.shutdown()
        if let failure {
            FileHandle.standardError.write(Data("claimsd: migration failed: \(failure)\n".utf8))
            throw ExitCode.failure
        }
    }
}
