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
        var page = HTMLText.document(title: title + " — claimsd operations", stylesheet: stylesheet)
        page.raw("<main class=\"sign-in\">")
        page.element("h1", title)
        page.element("p", message, class: "message")
        page.raw("<p><a href=\"/ops/review\">Back to the review queue</a> · <a href=\"/ops\">the console</a></p></main>")
        return page.finish()
    }
}
