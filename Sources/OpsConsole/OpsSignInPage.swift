/// The operations console's sign-in page: email and password, posted back to `/ops/login`,
/// with a line saying why the operator is here when there is a reason (a wrong password, an
/// ended session, a role that may not use the console).
public struct OpsSignInPage: Sendable {
    /// What to tell the operator above the form, if anything.
    public var message: String?
    /// The email to fill in again after a failed attempt.
    public var email: String

    public init(message: String? = nil, email: String = "") {
        self.message = message
        self.email = email
    }

    /// The whole document; styles from `stylesheet`, no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText.document(title: "Sign in — claimsd operations", stylesheet: stylesheet)
        page.raw("<main class=\"sign-in\"><h1>claimsd operations</h1>")
        if let message { page.element("p", message, class: "message") }
        page.raw("<form method=\"post\" action=\"/ops/login\"><label>Email <input type=\"email\" name=\"email\" autocomplete=\"username\" required")
        page.attribute("value", email)
        page.raw("></label><label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>")
        page.raw("<button type=\"submit\">Sign in</button></form></main>")
        return page.finish()
    }
}
