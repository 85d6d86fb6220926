import Foundation
import Testing
import TestSupport

/// claimsd serving TLS itself: a certificate from the test authority the scripts make, checked
/// with curl and openssl, reloaded on SIGHUP.
@Suite struct NativeTLSTests {
    static var authority: String { URL(fileURLWithPath: TestEnvironment.tlsCA).deletingLastPathComponent().path }

    /// Runs `command` in bash; its exit status and its standard output and error together.
    static func shell(_ command: String) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess("/bin/bash", ["-c", command])
        let status = try await child.waitForExit(timeout: .seconds(60))
        return (status, child.standardOutput + child.standardError)
    }

    /// A certificate for 127.0.0.1 named `name`, signed by the test authority, with its key, in `directory`.
    ///
    /// Its serial number is random, not drawn from the authority's serial file: the suite's
    /// tests run at once, and two `openssl x509 -CAcreateserial` rewriting the same `ca.srl`
    /// make one of them fail ("Unable to load number from ca.srl").
    static func makeCertificate(_ name: String, in directory: String) async throws -> (certificate: String, key: String) {
        let stem = directory + "/" + name.replacingOccurrences(of: " ", with: "-")
        let (status, output) = try await shell(
            """
            set -e
            openssl req -newkey rsa:2048 -nodes -subj '/CN=\(name)' -keyout '\(stem).key' -out '\(stem).csr'
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > '\(stem).ext'
            openssl x509 -req -in '\(stem).csr' -CA '\(authority)/ca.crt' -CAkey '\(authority)/ca.key' \
              -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile '\(stem).ext' -out '\(stem).crt'
            """)
        #expect(status == 0, "\(output)")
        return (stem + ".crt", stem + ".key")
    }

    /// The subject of the certificate claimsd serves on `port`, as openssl prints it.
    static func servedSubject(port: String) async throws -> String {
        let (_, output) = try await shell("openssl s_client -connect 127.0.0.1:\(port) -CAfile '\(authority)/ca.crt' -brief </dev/null 2>&1")
        return output.split(separator: "\n").first { $0.contains("Peer certificate:") }.map(String.init) ?? output
    }

    @Test func servesTLSWithHSTSRefusesOldVersionsAndReloadsOnSIGHUP() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claimsd-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Self.makeCertificate("claimsd first", in: directory)
        let served = (certificate: directory + "/served.crt", key: directory + "/served.key")
        try FileManager.default.copyItem(atPath: first.certificate, toPath: served.certificate)
        try FileManager.default.copyItem(atPath: first.key, toPath: served.key)

        try await ScratchDatabase.with { _, database in
            let environment = [
                "CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_RELAY": "off",
                "CLAIMS_TLS_CERT": served.certificate, "CLAIMS_TLS_KEY": served.key,
            ]
            let claimsd = try ChildProcess(ExecutableTests.binary.path, ["serve", "--port", "0", "--log-target", "stdout"], environment: environment)
            defer { if claimsd.exitStatus() == nil { claimsd.send(SIGKILL) } }
            let output = try await ExecutableTests.waitForOutput(of: claimsd) { $0.contains("listening on") }
            let port = try #require(output.split(separator: "\n").first { $0.contains("listening on") }?.split(separator: ":").last.map { String($0.prefix { $0.isNumber }) })

            // HTTPS with the test authority's certificate, verified by name, and HSTS.
            let (status, headers) = try await Self.shell("curl -sS --cacert '\(Self.authority)/ca.crt' -D - -o /dev/null https://localhost:\(port)/health")
            #expect(status == 0, "\(headers)")
            #expect(headers.hasPrefix("HTTP/1.1 200"), "\(headers)")
            #expect(headers.lowercased().contains("strict-transport-security: max-age=31536000"), "\(headers)")
            // Plain HTTP on the TLS port gets nowhere.
            let (plain, _) = try await Self.shell("curl -sS -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:\(port)/health")
            #expect(plain != 0)
            // TLS 1.2 is accepted, TLS 1.1 refused by the server.
            let (tls12, tls12Output) = try await Self.shell("openssl s_client -connect 127.0.0.1:\(port) -tls1_2 -CAfile '\(Self.authority)/ca.crt' -brief </dev/null")
            #expect(tls12 == 0, "\(tls12Output)")
            let (tls11, tls11Output) = try await Self.shell("openssl s_client -connect 127.0.0.1:\(port) -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -brief </dev/null")
            #expect(tls11 != 0)
            #expect(tls11Output.contains("alert protocol version"), "\(tls11Output)")
            // The container health check speaks TLS to it.
            let health = try ChildProcess(ExecutableTests.binary.path, ["healthcheck"], environment: ["CLAIMS_PORT": port, "CLAIMS_TLS_CERT": served.certificate])
            #expect(try await health.waitForExit() == 0, "\(health.standardError)")

            #expect(try await Self.servedSubject(port: port).contains("claimsd first"))
            // A new pair in place and SIGHUP: the next connection gets it.
            let second = try await Self.makeCertificate("claimsd second", in: directory)
            try FileManager.default.removeItem(atPath: served.certificate)
            try FileManager.default.removeItem(atPath: served.key)
            try FileManager.default.copyItem(atPath: second.certificate, toPath: served.certificate)
            try FileManager.default.copyItem(atPath: second.key, toPath: served.key)
            claimsd.send(SIGHUP)
            _ = try await ExecutableTests.waitForOutput(of: claimsd) { $0.contains("\"event\":\"tls_reloaded\"") }
            #expect(try await Self.servedSubject(port: port).contains("claimsd second"))

            // A key that does not belong to the certificate: the reload is refused, the pair in use stays.
            try FileManager.default.removeItem(atPath: served.key)
            try FileManager.default.copyItem(atPath: first.key, toPath: served.key)
            claimsd.send(SIGHUP)
            let failed = try await ExecutableTests.waitForOutput(of: claimsd) { $0.contains("\"event\":\"tls_reload_failed\"") }
            #expect(failed.contains("does not belong to the certificate"))
            #expect(try await Self.servedSubject(port: port).contains("claimsd second"))
            let (_, stillServing) = try await Self.shell("curl -sS --cacert '\(Self.authority)/ca.crt' -o /dev/null -w '%{http_code}' https://localhost:\(port)/health")
            #expect(stillServing == "200")

            claimsd.send(SIGTERM)
            #expect(try await claimsd.waitForExit(timeout: .seconds(20)) == 0)
        }
    }

    @Test func aKeyThatIsNotTheCertificatesStopsStartUp() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claimsd-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Self.makeCertificate("one", in: directory)
        let second = try await Self.makeCertificate("two", in: directory)
        try await ScratchDatabase.with { _, database in
            let claimsd = try ChildProcess(
                ExecutableTests.binary.path, ["serve", "--port", "0", "--log-target", "stdout"],
                environment: [
                    "CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_TLS_CERT": first.certificate,
                    "CLAIMS_TLS_KEY": second.key,
                ])
            #expect(try await claimsd.waitForExit() == 1)
            #expect(claimsd.standardError.contains("CLAIMS_TLS_CERT (--tls-cert) is invalid: the private key \(second.key) does not belong to the certificate"), "\(claimsd.standardError)")
        }
        let half = try ChildProcess(ExecutableTests.binary.path, ["serve"], environment: ["CLAIMS_TLS_CERT": first.certificate])
        #expect(try await half.waitForExit() == 78)
        #expect(half.standardError.contains("CLAIMS_TLS_KEY (--tls-key) is invalid: must be set with CLAIMS_TLS_CERT"), "\(half.standardError)")
    }
}
