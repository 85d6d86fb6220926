/// The page where an operator corrects a rejected claim and resubmits it: what was wrong, the
/// input in an editable form, and the form that sends it back through intake. Shown again with
/// the new violations, and the text as the operator left it, when the correction is refused.
public struct OpsCorrectionPage: Sendable {
    /// The rejected claim being corrected.
    public var claim: OpsPage.RejectedClaim
    /// The violations to show: the original ones, or those of the last attempt.
    public var violations: [(field: String, rule: String, message: String)]
    /// Whether ``violations`` are of the last attempt rather than of the original.
    public var isRetry: Bool
    /// How the text is read (`csv` or `json`), and the text in the editor.
    public var format: String
    public var text: String
    /// The token the form carries for a session cookie; nil when none is needed.
    public var formToken: String?

    public init(
        claim: OpsPage.RejectedClaim, violations: [(field: String, rule: String, message: String)], isRetry: Bool, format: String, text: String,
        formToken: String?
    ) {
        self.claim = claim
        self.violations = violations
        self.isRetry = isRetry
        self.format = format
        self.text = text
        self.formToken = formToken
    }

    /// The whole document; styles from `stylesheet`, no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText.document(title: "Correct a rejected claim — claimsd operations", stylesheet: stylesheet)
        page.raw("<header><h1>claimsd operations</h1><nav><a href=\"/ops/review\">Back to the review queue</a></nav></header>")
        page.raw("<section data-section=\"correction\"")
        page.attribute("data-rejected", claim.id)
        page.raw("><h2>Correct and resubmit</h2><p class=\"summary\">")
        page.text(claim.source + (claim.externalClaimNumber.map { " · claim \($0)" } ?? "") + " · received \(claim.receivedAt) · import \(claim.importID)")
        page.raw("</p>")
        page.element("p", isRetry ? "The correction was not accepted:" : "Rejected because:", class: isRetry ? "notice refused" : "notice")
        page.raw("<ul class=\"violations\">")
        page.violations(violations)
        page.raw("</ul><form class=\"correction\" method=\"post\"")
        page.attribute("action", "/ops/review/\(claim.id)/resubmit")
        page.raw(">")
        page.formToken(formToken)
        page.raw("<input type=\"hidden\" name=\"format\"")
        page.attribute("value", format)
        page.raw("><label for=\"claim\">")
        page.text(format == "csv" ? "The claim as CSV: the header, then one record per line" : "The claim as JSON")
        page.raw("</label><textarea id=\"claim\" name=\"claim\" rows=\"18\" spellcheck=\"false\" required>")
        // A newline right after the start tag is dropped by the parser: one is added so text
        // beginning with a newline keeps it.
        page.raw("\n")
        page.text(text)
        page.raw("</textarea><p class=\"summary\">It is validated and priced as a new claim; the rejected claim leaves the queue, linked to it.</p>")
        page.raw("<button type=\"submit\">Resubmit</button></form></section>")
        return page.finish()
    }
}
