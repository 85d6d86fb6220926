/// Routes kept with the shapes clients of the original services call, each answered by the same
/// handler as its canonical route, rate-limited together with it (one budget for both) and
/// logged and counted under its own path.
public enum RouteAliases {
    /// Alias (`METHOD /template`) → canonical route.
    public static let all: [String: String] = [
        // The original claim_process took a bare array of lines here.
        "POST /claims": "POST /api/v1/claims",
        // Both spellings the original ranking's users had.
        "GET /top-providers": "GET /api/v1/providers/top",
        "GET /top-provider": "GET /api/v1/providers/top",
        // The original Claim Processing API's status path.
        "GET /api/v1/claims/status/:id": "GET /api/v1/claims/:id/status",
    ]
}
