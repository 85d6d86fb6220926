import Foundation
import Testing
import TestSupport
import Yams

/// deploy/, docker-compose.yml and the Dockerfile pass the real validators of the tools that
/// run them (promtool, amtool, docker-compose, systemd-analyze, kubernetes-validate), and point
/// at files that exist and at each other consistently. One validator at a time: several of them
/// are Python programs that keep a core busy for a second or two.
@Suite(.serialized) struct DeployConfigTests {
    static let repository = AlertDrillTests.repository

    /// Runs a validator; returns its exit status and everything it printed.
    static func validate(_ executable: String, _ arguments: [String]) async throws -> (Int32, String) {
        let child = try ChildProcess(executable, arguments)
        let status = try await child.waitForExit(timeout: .seconds(120))
        return (status, child.standardOutput + child.standardError)
    }

    static func yaml(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOfFile: repository + "/" + path, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "\(path) is not a YAML mapping")
    }

    @Test func prometheusConfigAndTheRulesItLoadsPassPromtool() async throws {
        // promtool checks that the metrics key file exists; in compose the claimsd-keys service
        // writes it. Stand in for it (the directory is git-ignored), then clean up.
        let secrets = Self.repository + "/deploy/prometheus/secrets"
        let keyFile = secrets + "/claimsd-metrics-key"
        let madeHere = !FileManager.default.fileExists(atPath: keyFile)
        if madeHere {
            try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
            try "ck_aaaaaaaaaaaa_stand-in-for-the-key-claimsd-keys-makes-at-start".write(toFile: keyFile, atomically: true, encoding: .utf8)
        }
        defer { if madeHere { try? FileManager.default.removeItem(atPath: secrets) } }
        let (status, output) = try await Self.validate("/usr/bin/env", ["promtool", "check", "config", Self.repository + "/deploy/prometheus/prometheus.yml"])
        #expect(status == 0, "\(output)")
        // It loads the same five rule files claimsd ships, through deploy/prometheus/alerts → ../../alerts.
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.repository + "/alerts").filter { $0.hasSuffix(".yml") }
        #expect(output.contains("SUCCESS: \(shipped.count) rule files found"), "\(output)")
    }

    @Test func lokiRulesParseAndSelectTheShippedLogLabels() async throws {
        let path = Self.repository + "/deploy/loki/rules/fake/claimsd-logs.yml"
        let (status, output) = try await Self.validate("/usr/bin/env", ["promtool", "check", "rules", path])
        #expect(status == 0, "\(output)")
        let groups = try #require(try Self.yaml("deploy/loki/rules/fake/claimsd-logs.yml")["groups"] as? [[String: Any]])
        let rules = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        #expect(rules.count >= 3)
        for rule in rules {
            let expr = try #require(rule["expr"] as? String)
            // The labels deploy/alloy and deploy/promtail give claimsd's records, and flood-loki gives its entries.
            #expect(expr.contains("job=\"api\""), "\(expr)")
            let runbook = try #require((rule["annotations"] as? [String: String])?["runbook_url"])
            let anchor = String(runbook.split(separator: "#").last ?? "")
            let runbookText = try String(contentsOfFile: Self.repository + "/docs/runbook.md", encoding: .utf8).lowercased()
            #expect(runbookText.contains("## \(anchor)") || runbookText.contains("### \(anchor)"), "docs/runbook.md has no section for \(anchor)")
        }
        let loki = try Self.yaml("deploy/loki/loki.yml")
        #expect(loki["auth_enabled"] as? Bool == false, "rules/fake/ is the tenant of a Loki without auth")
        #expect(((loki["ruler"] as? [String: Any])?["alertmanager_url"] as? String) == "http://alertmanager:9093")
    }

    @Test func alertmanagerConfigPassesAmtool() async throws {
        let (status, output) = try await Self.validate("/usr/bin/env", ["amtool", "check-config", Self.repository + "/deploy/alertmanager/alertmanager.yml"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS"))
    }

    @Test func composeFilePassesDockerComposeAndMountsFilesThatExist() async throws {
        let (status, output) = try await Self.validate("/usr/bin/env", ["docker-compose", "-f", Self.repository + "/docker-compose.yml", "config", "-q"])
        #expect(status == 0, "\(output)")
        let compose = try Self.yaml("docker-compose.yml")
        let services = try #require(compose["services"] as? [String: Any])
        #expect(Set(services.keys).isSuperset(of: ["claimsd", "postgres", "redis", "prometheus", "alertmanager", "loki", "alloy", "grafana"]))
        for (name, service) in services {
            for volume in ((service as? [String: Any])?["volumes"] as? [String] ?? []) where volume.hasPrefix("./") {
                let source = String(volume.dropFirst(2).split(separator: ":").first ?? "")
                #expect(FileManager.default.fileExists(atPath: Self.repository + "/" + source), "\(name) mounts ./\(source), which does not exist")
            }
        }
        // Every Dockerfile COPY source exists, and every product it builds is one Package.swift declares.
        let dockerfile = try String(contentsOfFile: Self.repository + "/Dockerfile", encoding: .utf8)
        let package = try String(contentsOfFile: Self.repository + "/Package.swift", encoding: .utf8)
        for line in dockerfile.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from=") {
            for source in line.split(separator: " ").dropFirst().dropLast() {
                #expect(FileManager.default.fileExists(atPath: Self.repository + "/" + source), "Dockerfile copies \(source), which does not exist")
            }
        }
        for product in ["claimsd", "flood-api", "flood-loki", "generate-error-logs"] {
            #expect(dockerfile.contains("--product \(product)") && package.contains(".executable(name: \"\(product)\""))
        }
        // Grafana's provisioning: the datasources the dashboards' variables choose from, and the dashboards folder.
        let datasources = try #require(try Self.yaml("deploy/grafana/provisioning/datasources/claimsd.yml")["datasources"] as? [[String: Any]])
        #expect(Set(datasources.compactMap { $0["type"] as? String }) == ["prometheus", "loki"])
        #expect(datasources.first { $0["isDefault"] as? Bool == true }?["url"] as? String == "http://claimsd:8000", "claimsd is the default metrics datasource")
        let providers = try #require(try Self.yaml("deploy/grafana/provisioning/dashboards/claimsd.yml")["providers"] as? [[String: Any]])
        let dashboardPath = (providers.first?["options"] as? [String: Any])?["path"] as? String
        #expect(((services["grafana"] as? [String: Any])?["volumes"] as? [String] ?? []).contains("./dashboards:\(dashboardPath ?? "?"):ro"))
    }

    @Test func systemdUnitPassesSystemdAnalyzeVerify() async throws {
        // verify checks that ExecStart's binary exists: point a copy of the unit at the one just built.
        let unit = try String(contentsOfFile: Self.repository + "/deploy/claimsd.service", encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("StateDirectory=claimsd") && unit.contains("ProtectSystem=strict"))
        let directory = try AlertingIntegrationTests.scratch("unit")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let copy = directory + "/claimsd.service"
        try unit.replacingOccurrences(of: "/usr/local/bin/claimsd", with: Self.repository + "/.build/debug/claimsd").write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await Self.validate("/usr/bin/env", ["systemd-analyze", "verify", copy])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Unknown key") && !output.contains("Unknown section"), "\(output)")
    }

    @Test func kubernetesManifestsPassKubernetesValidate() async throws {
        let validator = Self.repository + "/.local/tools/venv/bin/kubernetes-validate"
        let (status, output) = try await Self.validate(validator, ["--strict", Self.repository + "/deploy/k8s/claimsd.yaml"])
        #expect(status == 0, "\(output)")
        for kind in ["deployment/claimsd", "service/claimsd", "poddisruptionbudget/claimsd"] {
            #expect(output.contains("passed for resource \(kind)"), "\(output)")
        }
        let manifest = try String(contentsOfFile: Self.repository + "/deploy/k8s/claimsd.yaml", encoding: .utf8)
        #expect(manifest.contains("path: /ready") && manifest.contains("path: /health"), "readiness on /ready, liveness on /health")
    }

    @Test func logShippersGiveTheLabelsTheDashboardsAndFloodToolsUse() throws {
        for path in ["deploy/alloy/claimsd.alloy", "deploy/alloy/compose.alloy", "deploy/promtail/claimsd-journal.yaml"] {
            let text = try String(contentsOfFile: Self.repository + "/" + path, encoding: .utf8)
            #expect(text.contains("\"api\"") || text.contains("job: api"), "\(path) sets job=api")
            #expect(text.contains("level"), "\(path) sets level")
        }
    }
}
