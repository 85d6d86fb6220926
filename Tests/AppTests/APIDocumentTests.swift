import Access
@testable import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// The OpenAPI document: it is valid OpenAPI 3.1 (checked by openapi-spec-validator), its JSON
/// form is the YAML read by PyYAML, it names exactly the routes the router has with the same
/// credential requirements, and it is served with a docs page that a real browser lays out.
@Suite struct APIDocumentTests {
    static let repository = DeployConfigTests.repository
    static let venv = repository + "/.local/tools/venv/bin/"

    /// The shipped document, and a new directory (the caller removes it) holding it as
    /// `openapi.yaml` and `openapi.json`.
    static func documentFiles() throws -> (APIDocument, String) {
        let document = try APIDocument.bundled()
        let directory = NSTemporaryDirectory() + "claimsd-openapi-\(TestEnvironment.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(document.yaml.utf8).write(to: URL(fileURLWithPath: directory + "/openapi.yaml"))
        try Data(document.json).write(to: URL(fileURLWithPath: directory + "/openapi.json"))
        return (document, directory)
    }

    @Test func theShippedDocumentIsOpenAPI31() throws {
        let document = try APIDocument.bundled()
        let root = try #require(try JSONSerialization.jsonObject(with: Data(document.json)) as? [String: Any])
        #expect(root["openapi"] as? String == "3.1.0")
        let paths = try #require(root["paths"] as? [String: [String: Any]])
        let methods = APIDocument.methods
        #expect(paths.values.reduce(0) { $0 + $1.keys.filter(methods.contains).count } == document.operations.count)
        #expect(document.operations.contains("GET /api/v1/claims/{id}") && document.openOperations.contains("POST /api/v1/login"))
        #expect(!document.openOperations.contains("POST /api/v1/claims"))
    }

    /// The document as served, in both forms, passes openapi-spec-validator (from PyPI).
    @Test func theServedDocumentPassesOpenAPISpecValidator() async throws {
        let (_, directory) = try Self.documentFiles()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in ["openapi.yaml", "openapi.json"] {
            let (status, output) = try await DeployConfigTests.validate(Self.venv + "openapi-spec-validator", [directory + "/" + file])
            #expect(status == 0 && output.contains("OK"), "\(file): \(output)")
        }
    }

    /// claimsd's YAML-to-JSON conversion against PyYAML's reading of the same text.
    @Test func theJSONFormIsWhatPyYAMLReads() async throws {
        let (document, directory) = try Self.documentFiles()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))"
        let python = try await TestEnvironment.run(Self.venv + "python", ["-c", script, directory + "/openapi.yaml"])
        let theirs = try JSONSerialization.jsonObject(with: Data(python.utf8)) as? NSDictionary
        let ours = try JSONSerialization.jsonObject(with: Data(document.json)) as? NSDictionary
        #expect(theirs != nil && ours == theirs)
    }

    /// One source of truth: a route the router has and the document lacks fails, and the other
    /// way round; so does an operation whose `security` disagrees with the route's requirement.
    @Test func everyRouteIsDocumentedAndEveryOperationIsARoute() async throws {
        let document = try APIDocument.bundled()
        let directory = NSTemporaryDirectory() + "claimsd-openapi-\(TestEnvironment.uniqueSuffix())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let everyRoute = try await EveryRoute(dependencies: dependencies, access: try await TestAccess.settings(), directory: directory)
        defer { try? everyRoute.store.close() }
        var routes: [String: Requirement] = [:]
        for declaration in everyRoute.declarations.all {
            let path = declaration.path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            routes["\(declaration.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"] = declaration.requirement
        }
        let undocumented = Set(routes.keys).subtracting(document.operations).sorted()
        let unrouted = document.operations.subtracting(routes.keys).sorted()
        #expect(undocumented.isEmpty, "routes missing from openapi.yaml: \(undocumented)")
        #expect(unrouted.isEmpty, "operations in openapi.yaml that claimsd does not serve: \(unrouted)")
        for (route, requirement) in routes where document.operations.contains(route) {
            #expect((requirement == .open) == document.openOperations.contains(route), "\(route) requires \(requirement), the document disagrees")
        }
        #expect(routes.count == document.operations.count && routes.count >= 60)
    }

    @Test func theDocumentAndTheDocsPageAreServedWithoutACredential() async throws {
        let document = try APIDocument.bundled()
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let app = Application(router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/json")
                #expect(Array(buffer: response.body) == document.json)
            }
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("application/yaml") == true)
                #expect(String(buffer: response.body) == document.yaml)
            }
            try await client.execute(uri: "/docs", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                let page = String(buffer: response.body)
                #expect(page.contains("src=\"/docs/docs.js\"") && page.contains("href=\"/docs/docs.css\""))
                #expect(!page.contains("http://") && !page.contains("https://"), "the page reaches no other site")
            }
            for (asset, type) in [("/docs/docs.js", "text/javascript"), ("/docs/docs.css", "text/css")] {
                try await client.execute(uri: asset, method: .get) { response in
                    #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix(type) == true, "\(asset)")
                    #expect(response.body.readableBytes > 500)
                    #expect(!String(buffer: response.body).contains("https://"), "\(asset) reaches no other site")
                }
            }
        }
    }

    /// Headless Chromium (Debian's) loads `/docs` from a live claimsd, runs its script under the
    /// page's Content-Security-Policy, and the laid-out page shows every operation.
    @Test func headlessChromiumLaysOutEveryOperation() async throws {
        let document = try APIDocument.bundled()
        let dependencies = try makeDependencies(databaseURL: TestEnvironment.databaseURL, redisURL: TestEnvironment.redisURL)
        let app = Application(
            router: buildRouter(dependencies: dependencies, access: try await TestAccess.settings()),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestEnvironment.quietLogger)
        let profile = NSTemporaryDirectory() + "claimsd-chromium-\(TestEnvironment.uniqueSuffix())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let page = try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await TestEnvironment.run(
                "/usr/bin/chromium",
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--virtual-time-budget=15000",
                    "--dump-dom", "http://127.0.0.1:\(port)/docs",
                ], timeout: .seconds(120))
        }
        #expect(page.contains("data-operations=\"\(document.operations.count)\""), "the script laid out every operation")
        for operation in document.operations.sorted() {
            #expect(page.contains("data-operation=\"\(operation)\""), "\(operation) is on the page")
        }
        #expect(!page.contains("could not be loaded"))
    }
}
