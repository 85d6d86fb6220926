import HTTPTypes
import Hummingbird

/// Answers `405 Method Not Allowed` with `Allow` when a request's path names a route but its
/// method is not one the route serves (Hummingbird's router answers 404 for both cases).
///
/// Added after every route, it runs only for requests the router found no endpoint for: a
/// router applies middleware added after an endpoint only to later endpoints and to "not found".
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes: each path with the methods it serves.
    let routes: [(path: RouterPath, methods: [HTTPRequest.Method])]

    init(routes: [Router<Context>.RouteDescription]) {
        var byPath: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
        var order: [String] = []
        for route in routes {
            if byPath[route.path.description] == nil {
                order.append(route.path.description)
                byPath[route.path.description] = (route.path, [])
            }
            byPath[route.path.description]?.methods.append(route.method)
        }
        self.routes = order.compactMap { byPath[$0] }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let components = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        // The router walks its tree preferring a fixed component to a parameter to a wildcard
        // and never steps back, so only the paths it would walk to count:
        // `PUT /api/v1/claims/import` reaches `claims/import` (POST), not `claims/:id` (PUT).
        var allowed: [String] = []
        var walked: [Int]?
        for route in routes where Self.matches(route.path, components) {
            let preference = route.path.components.map(Self.preference)
            if let best = walked, best.lexicographicallyPrecedes(preference) { continue }
            if let best = walked, preference.lexicographicallyPrecedes(best) { allowed = [] }
            walked = preference
            for method in route.methods where !allowed.contains(method.rawValue) { allowed.append(method.rawValue) }
        }
        guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { return try await next(request, context) }
        allowed.sort()
        var problem = Problem(
            status: .methodNotAllowed, detail: "\(request.method.rawValue) is not served on \(request.uri.path); use \(allowed.joined(separator: " or "))")
        problem.headers[.allow] = allowed.joined(separator: ", ")
        throw problem
    }

    /// How strongly the router prefers a path element: fixed text first, wildcards last.
    static func preference(_ element: RouterPath.Element) -> Int {
        let text = element.description
        if text == "**" { return 4 }
        if text == "*" { return 3 }
        if text.hasPrefix("{") && text.hasSuffix("}") { return 1 }  // a whole-component parameter
        return text.contains("*") || text.contains("{") ? 2 : 0
    }

    /// Whether `path` matches the request's path components, parameters and wildcards included.
    static func matches(_ path: RouterPath, _ components: [Substring]) -> Bool {
        var index = 0
        for element in path.components {
            if element == .recursiveWildcard { return true }
            guard index < components.count, element ~= components[index] else { return false }
            index += 1
        }
        return index == components.count
    }
}
