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
        var page = HTMLText.document(title: "Review queue — claimsd operations", stylesheet: stylesheet)
        page.raw("<header><h1>claimsd operations</h1><nav><a href=\"/ops\">Back to the console</a></nav></header>")
        page.problems(problems)
        OpsPage.reviewSection(queue, into: &page)
        return page.finish()
    }
}
