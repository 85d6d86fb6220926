import Access
@testable import App
import DataProtection
import EncryptedColumns
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
import Schema
import Testing
import TestSupport

/// Member identifiers and names encrypted at rest, seen from outside: through the API, in a
/// `pg_dump` of the database, and at claimsd's start.
@Suite struct EncryptionAtRestTests {
    static let npi = "1497775530"

    static func claimJSON(subscriber: String) -> String {
        #"{"lines":[{"service date":"2018-03-28","submitted procedure":"D4346","Plan/Group #":"GRP-1","Subscriber#":"\#(subscriber)","Provider NPI":"\#(npi)","provider fees":"130.00","Allowed fees":"65.00","member coinsurance":"16.25","member copay":"0.00"}]}"#
    }

    func json(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
    }

    /// Everything a client can send that holds a member identifier or a name goes in; a dump of
    /// the database then holds none of them, while the API still answers with them.
    @Test func noPlainIdentifierOrNameReachesTheDatabase() async throws {
        let unique = String(UUID().uuidString.prefix(8))
        let posted = "SUBP\(unique)"
        let idempotent = "SUBI\(unique)"
        let imported = "SUBM\(unique)"
        let rejected = "SUBR\(unique)"
        let memberName = "Zelda Quixote \(unique)"
        let keyScope = "SUBK\(unique)"
        let plain = [posted, idempotent, imported, rejected, memberName, keyScope]

        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            let dependencies = try makeDependencies(databaseURL: database.url, redisURL: TestEnvironment.redisURL)
            let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings()))
            let admin = try await TestAccess.apiKey(client)
            let auditor = try await TestAccess.apiKey(client, role: .auditor)
            let member = try await TestAccess.apiKey(client, role: .member, scope: Scope(npis: [], subscriberID: posted))
            do {
                try await app.test(.router) { router in
                    let client = AuthorizedClient(router, key: admin)
                    let created = try await client.execute(uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.claimJSON(subscriber: posted)))
                    #expect(created.status == .created)
                    let id = try #require(json(created)["id"] as? String)
                    let again = try await client.execute(
                        uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json", .idempotencyKey: "k-\(unique)"],
                        body: ByteBuffer(string: Self.claimJSON(subscriber: idempotent)))
                    #expect(again.status == .created)
                    let csv = "claim_number,service_dttm,submitted_proc,quadrant,group_id,subscriber_id,provider_npi,provider_fees,allowed_fees,member_co_ins,member_co_pay\n"
                        + "C-1,2018-03-28,D4346,,G,\(imported),\(Self.npi),100,50,10,0\nC-2,2018-03-28,D4346,,G,\(rejected),123,100,50,10,0\n"
                    let report = json(try await client.execute(uri: "/api/v1/claims/import", method: .post, headers: [.contentType: "text/csv"], body: ByteBuffer(string: csv)))
                    #expect(report["accepted"] as? Int == 1 && report["rejected"] as? Int == 1)
                    let user = try await client.execute(
                        uri: "/api/v1/users", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"email":"zq\#(unique)@example.org","password":"a long enough password","full_name":"\#(memberName)","role":"member","subscriber_id":"\#(posted)"}"#))
                    #expect(user.status == .created)
                    let key = try await client.execute(
                        uri: "/api/v1/api-keys", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"name":"member app","role":"member","subscriber_id":"\#(keyScope)"}"#))
                    #expect(key.status == .created)

                    // The API answers with the plain values: admins see them whole, auditors masked.
                    let read = json(try await client.execute(uri: "/api/v1/claims/\(id)", method: .get))
                    #expect((read["lines"] as? [[String: Any]])?.first?["subscriber_id"] as? String == posted)
                    let audited = json(try await AuthorizedClient(router, key: auditor).execute(uri: "/api/v1/claims/\(id)", method: .get))
                    #expect((audited["lines"] as? [[String: Any]])?.first?["subscriber_id"] as? String == String(repeating: "*", count: posted.count - 4) + posted.suffix(4))
                    let users = String(buffer: try await AuthorizedClient(router, key: auditor).execute(uri: "/api/v1/users", method: .get).body)
                    #expect(!users.contains(memberName) && !users.contains(posted) && users.contains(String(memberName.suffix(4))))
                    let adminUsers = String(buffer: try await client.execute(uri: "/api/v1/users", method: .get).body)
                    #expect(adminUsers.contains(memberName) && adminUsers.contains(posted))
                    // A member finds its claim by the blind index of its subscriber id.
                    let listed = json(try await AuthorizedClient(router, key: member).execute(uri: "/api/v1/claims", method: .get))
                    #expect((listed["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
                    // A remembered response replays decrypted.
                    let replay = try await client.execute(
                        uri: "/api/v1/claims", method: .post, headers: [.contentType: "application/json", .idempotencyKey: "k-\(unique)"],
                        body: ByteBuffer(string: Self.claimJSON(subscriber: idempotent)))
                    #expect(String(buffer: replay.body).contains(idempotent))
                }
            } catch {
                await dependencies.postgres.shutdown()
                throw error
            }
            await dependencies.postgres.shutdown()
            await dependencies.redis.shutdown()

            let dump = try ChildProcess(TestEnvironment.required("CLAIMS_TEST_PG_DUMP"), ["--no-owner", "--dbname", database.url])
            #expect(try await dump.waitForExit(timeout: .seconds(60)) == 0, "\(dump.standardError)")
            let text = dump.standardOutput
            // The dump is complete (the encrypted columns and the audit trail are in it) …
            #expect(text.contains("subscriber_id_sealed") && text.contains("COPY public.audit_events"))
            // … and holds no plain value, in any table.
            for value in plain {
                #expect(!text.contains(value), "\(value) is in the dump")
            }
        }
    }

    /// claimsd refuses to start without its keyring, and with one that does not fit the database,
    /// saying which; it never starts and writes under a wrong key.
    @Test func startUpStopsWithoutTheKeyringOrWithOneThatDoesNotFit() async throws {
        let missing = try ChildProcess(ExecutableTests.binary.path, ["serve", "--port", "0"], environment: ["CLAIMS_DATA_KEYS": ""])
        #expect(try await missing.waitForExit() == 78)
        #expect(missing.standardError.contains("CLAIMS_DATA_KEYS (--data-keys) is invalid: must be set"), "\(missing.standardError)")
        let unreadable = try ChildProcess(ExecutableTests.binary.path, ["serve", "--port", "0"], environment: ["CLAIMS_DATA_KEYS": "/nonexistent/keys"])
        #expect(try await unreadable.waitForExit() == 78)
        #expect(unreadable.standardError.contains("cannot be read") && unreadable.standardError.contains("/nonexistent/keys"), "\(unreadable.standardError)")

        try await ScratchDatabase.with { client, database in
            try await Migrator(client: client, logger: TestEnvironment.quietLogger).migrate()
            try await DataKeyRegistry(cipher: TestEnvironment.cipher).verify(client: client)
            // The test keyring's index key, and a data key of the same id with other bytes.
            let impostor = DataKeyring.generate(dataKeyID: TestEnvironment.dataKeyring.encryptingKey.id, indexKeyID: "unused")
            let lines = impostor.text.split(separator: "\n").filter { $0.hasPrefix("data ") }
                + TestEnvironment.dataKeyring.text.split(separator: "\n").filter { $0.hasPrefix("index ") }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("impostor-keys-\(UUID().uuidString)").path
            try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let claimsd = try ChildProcess(
                ExecutableTests.binary.path, ["serve", "--port", "0", "--log-target", "stdout"],
                environment: ["CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_DATA_KEYS": path])
            #expect(try await claimsd.waitForExit(timeout: .seconds(60)) == 1)
            #expect(claimsd.standardError.contains("is not the key '\(TestEnvironment.dataKeyring.encryptingKey.id)' this database was encrypted with"), "\(claimsd.standardError)")
            #expect(!claimsd.standardOutput.contains("listening on"))
        }
    }

    /// The key commands as an operator runs them: a new keyring, a new first key, rotation with
    /// its report, and the status afterwards.
    @Test func keyCommandsRotateADatabase() async throws {
        let generate = try ChildProcess(ExecutableTests.binary.path, ["keys", "generate", "--data-key-id", "first"])
        #expect(try await generate.waitForExit() == 0)
        let first = try DataKeyring(text: generate.standardOutput)
        #expect(first.dataKeys.map(\.id) == ["first"])

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claimsd-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try generate.standardOutput.write(toFile: directory + "/keys", atomically: true, encoding: .utf8)
        try await ScratchDatabase.with { client, database in
            let environment = ["CLAIMS_DATABASE_URL": database.url, "CLAIMS_REDIS_URL": TestEnvironment.redisURL, "CLAIMS_DATA_KEYS": directory + "/keys"]
            // A member user made under the first key.
            let user = try ChildProcess(
                "/bin/bash", ["-c", "echo 'a long enough password' | '\(ExecutableTests.binary.path)' users create --email m@example.org --role member --subscriber-id SUB-77 --password-stdin"],
                environment: environment)
            #expect(try await user.waitForExit() == 0, "\(user.standardError)")

            let new = try ChildProcess(ExecutableTests.binary.path, ["keys", "new", "--id", "second"], environment: environment)
            #expect(try await new.waitForExit() == 0, "\(new.standardError)")
            #expect(try DataKeyring(text: new.standardOutput).dataKeys.map(\.id) == ["second", "first"])
            try new.standardOutput.write(toFile: directory + "/keys", atomically: true, encoding: .utf8)

            let rotate = try ChildProcess(ExecutableTests.binary.path, ["keys", "rotate"], environment: environment)
            #expect(try await rotate.waitForExit() == 0, "\(rotate.standardError)")
            // The user's name and member id were under the first key.
            #expect(rotate.standardOutput.contains("2 values re-encrypted under data key 'second'"), "\(rotate.standardOutput)")
            #expect(rotate.standardOutput.contains("retired 'first'"), "\(rotate.standardOutput)")
            #expect(rotate.standardError.contains("re-encrypting ["), "\(rotate.standardError)")

            let status = try ChildProcess(ExecutableTests.binary.path, ["keys", "status"], environment: environment)
            #expect(try await status.waitForExit() == 0, "\(status.standardError)")
            #expect(status.standardOutput.contains("values under older keys: 0"), "\(status.standardOutput)")
            let keys = try await client.query("SELECT key_id, retired_at IS NOT NULL AS retired FROM data_keys ORDER BY key_id").rows
                .map { "\(try $0.decode("key_id", as: String.self)):\(try $0.decode("retired", as: Bool.self))" }
            #expect(keys == ["first:true", "second:false"])
        }
    }
}
