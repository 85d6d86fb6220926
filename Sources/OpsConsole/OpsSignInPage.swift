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
        var page = HTMLText()
        page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign in — claimsd operations</title><link rel=\"stylesheet\"")
        page.attribute("href", stylesheet)
        page.raw("></head><body><main class=\"sign-in\"><h1>claimsd operations</h1>")
        if let message { page.element("p", message, class: "message") }
        page.raw("<form method=\"post\" action=\"/ops/login\"><label>Email <input type=\"email\" name=\"email\" autocomplete=\"username\" required")
        page.attribute("value", email)
        page.raw("></label><label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>")
        page.raw("<button type=\"submit\">Sign in</button></form></main></body></html>\n")
        return page.html
    }
}

/// A short page of the console that says what happened to a form and links back to the
/// console: an action that could not be done, and why.
public struct OpsMessagePage: Sendable {
    /// What happened, in a few words, and why, in a sentence.
    public var title: String
    public var message: String

    public init(title: String, message: String) {
        self.title = title
        self.message = message
    }

    /// The whole document; styles from `stylesheet`, no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText()
        page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
        page.text(title + " — claimsd operations")
        page.raw("</title><link rel=\"stylesheet\"")
        page.attribute("href", stylesheet)
        page.raw("></head><body><main class=\"sign-in\">")
        page.element("h1", title)
        page.element("p", message, class: "message")
        page.raw("<p><a href=\"/ops/review\">Back to the review queue</a> · <a href=\"/ops\">the console</a></p></main></body></html>\n")
        return page.html
    }
}

/// The review queue's own page: the rejected claims waiting, a page at a time, each with its
/// dismiss form. It does not reload itself, so a reason being typed is never lost.
public struct OpsReviewPage: Sendable {
    /// The page of the queue shown.
    public var queue: OpsPage.ReviewQueue
    /// Problems reading the queue.
    public var problems: [String]

    public init(queue: OpsPage.ReviewQueue, problems: [String] = []) {
        self.queue = queue
        self.problems = problems
    }

    /// The whole document; styles from `stylesheet`, no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText()
        page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Review queue — claimsd operations</title><link rel=\"stylesheet\"")
        page.attribute("href", stylesheet)
        page.raw("></head><body><header><h1>claimsd operations</h1><nav><a href=\"/ops\">Back to the console</a></nav></header>")
        if !problems.isEmpty {
            page.raw("<section class=\"problems\" data-section=\"problems\"><h2>Could not be read</h2><ul>")
            for problem in problems { page.element("li", problem) }
            page.raw("</ul></section>")
        }
        OpsPage.reviewSection(queue, into: &page)
        page.raw("</body></html>\n")
        return page.html
    }
}
