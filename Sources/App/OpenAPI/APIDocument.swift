import JSONText
import Yams

/// The OpenAPI 3.1 description of claimsd's HTTP API (`Sources/App/OpenAPI/openapi.yaml`,
/// embedded in the binary): served as written at `/openapi.yaml`, and as JSON at
/// `/openapi.json`, converted once.
public struct APIDocument: Sendable {
    /// The document as written.
    public let yaml: String
    /// The same document as JSON.
    public let json: [UInt8]
    /// Every operation the document describes, as `METHOD /path` with `{name}` parameters.
    public let operations: Set<String>
    /// The operations that need no credential (`security: []`).
    public let openOperations: Set<String>

    /// Why the embedded document could not be read; a build with a broken document must not ship.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The document shipped in this binary.
    public static func bundled() throws(Problem) -> APIDocument {
        try APIDocument(yaml: String(decoding: PackageResources.openapi_yaml, as: UTF8.self))
    }

    /// Reads `yaml`, an OpenAPI document.
    public init(yaml: String) throws(Problem) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { throw Problem(description: "the OpenAPI document is empty") }
            root = node
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(description: "the OpenAPI document is not YAML: \(error)")
        }
        var writer = JSONWriter(capacity: yaml.utf8.count)
        try Self.write(root, to: &writer)
        self.yaml = yaml
        self.json = writer.bytes
        let operations = Self.operations(in: root)
        self.operations = Set(operations.keys)
        self.openOperations = Set(operations.filter { $0.value.mapping?["security"]?.sequence?.isEmpty == true }.keys)
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Each operation's node by `METHOD /path`.
    static func operations(in root: Node) -> [String: Node] {
        guard let paths = root.mapping?["paths"]?.mapping else { return [:] }
        var found: [String: Node] = [:]
        for (path, item) in paths {
            guard let path = path.string, let item = item.mapping else { continue }
            for (method, operation) in item {
                guard let method = method.string, methods.contains(method) else { continue }
                found[method.uppercased() + " " + path] = operation
            }
        }
        return found
    }

    /// JSON for `node`: mappings as objects, sequences as arrays, and scalars by their resolved
    /// YAML type (null, boolean, integer, float, else string).
    static func write(_ node: Node, to writer: inout JSONWriter) throws(Problem) {
        switch node {
        case .mapping(let mapping):
            writer.open("{")
            for (key, value) in mapping {
                guard let name = key.string else { throw Problem(description: "a mapping key at line \(key.mark?.line ?? 0) is not a scalar") }
                writer.key(escaping: name)
                try write(value, to: &writer)
            }
            writer.close("}")
        case .sequence(let sequence):
            writer.open("[")
            for item in sequence { try write(item, to: &writer) }
            writer.close("]")
        case .scalar(let scalar):
            writer.separate()
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: writer.raw("null")
            case .bool: writer.raw(node.bool == true ? "true" : "false")
            case .int:
                guard let value = node.int else { throw Problem(description: "\"\(scalar.string)\" is not an integer JSON can hold") }
                writer.integer(value)
            case .float:
                guard let value = node.float, value.isFinite else { throw Problem(description: "\"\(scalar.string)\" is not a finite number") }
                writer.raw("\(value)")
            default: writer.string(scalar.string)
            }
        case .alias:
            throw Problem(description: "YAML aliases are not used in the OpenAPI document; write the value out or use $ref")
        }
    }
}
