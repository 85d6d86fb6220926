public import Hummingbird
import HTTPTypes
import NIOCore

/// The API's description, open to anyone: `/openapi.yaml` and `/openapi.json` (the OpenAPI 3.1
/// document), and `/docs`, a page that lays the document out in a browser with a script and a
/// stylesheet of its own, so it works on an isolated network (no CDN).
public struct APIDocumentRoutes: Sendable {
    /// The document, or why the one shipped in this build could not be read.
    let document: Result<APIDocument, APIDocument.Problem>

    public init(document: Result<APIDocument, APIDocument.Problem> = APIDocument.shipped) {
        self.document = document
    }

    public func register(on router: SecuredRoutes) {
        router.get("openapi.yaml", requires: .open) { _, _ in
            Self.text(Array(try current().yaml.utf8), contentType: "application/yaml; charset=utf-8")
        }
        router.get("openapi.json", requires: .open) { _, _ in
            Self.text(try current().json, contentType: "application/json")
        }
        router.get("docs", requires: .open) { _, _ in
            Self.text(PackageResources.docs_html, contentType: "text/html; charset=utf-8")
        }
        router.get("docs/docs.js", requires: .open) { _, _ in
            Self.text(PackageResources.docs_js, contentType: "text/javascript; charset=utf-8")
        }
        router.get("docs/docs.css", requires: .open) { _, _ in
            Self.text(PackageResources.docs_css, contentType: "text/css; charset=utf-8")
        }
    }

    /// The document, or a 500 problem naming why this build's document cannot be read.
    func current() throws(Problem) -> APIDocument {
        switch document {
        case .success(let document): return document
        case .failure(let problem): throw Problem(status: .internalServerError, detail: "the API document shipped in this build is broken: \(problem.description)")
        }
    }

    static func text(_ bytes: [UInt8], contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension APIDocument {
    /// The document shipped in this binary, read once. A failure is a bug of the build (a test
    /// reads the document); the routes then answer 500 naming it.
    public static let shipped: Result<APIDocument, APIDocument.Problem> = Result { () throws(Problem) in try bundled() }
}
