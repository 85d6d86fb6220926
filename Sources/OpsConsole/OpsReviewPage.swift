/// The review queue's own page: the rejected claims waiting, a page at a time, each with its
/// dismiss form, then the claims screening flagged, each with its clear form. It does not reload itself, so a reason being typed is never lost.
public struct OpsReviewPage: Sendable {
    /// The page of the queue shown.
    public var queue: OpsPage.ReviewQueue
    /// The page of flagged claims shown; nil when it could not be read (see ``problems``).
    public var flagged: OpsPage.FlaggedQueue?
    /// Problems reading the queue.
    public var problems: [String]

    public init(queue: OpsPage.ReviewQueue, flagged: OpsPage.FlaggedQueue? = nil, problems: [String] = []) {
        self.queue = queue
        self.flagged = flagged
        self.problems = problems
    }

    /// The whole document; styles from `stylesheet`, no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText.document(title: "Review queue — claimsd operations", stylesheet: stylesheet)
        page.raw("<header><h1>claimsd operations</h1><nav><a href=\"/ops\">Back to the console</a></nav></header>")
        page.problems(problems)
        OpsPage.reviewSection(queue, into: &page)
        if let flagged { OpsPage.flaggedSection(flagged, into: &page) }
        return page.finish()
    }
}
