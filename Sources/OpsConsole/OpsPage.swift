import Claims

/// The operations console's page: what an operator with only a browser needs to see — the
/// dependencies, the key rates with an hour of history, the alerts, the ranking and the
/// payments feed — as one server-rendered HTML document with no script.
///
/// The page is a value: whoever serves it gathers the facts (readiness, queries of the built-in
/// store, alert state) into it, and ``html()`` only lays them out, so what is shown can be
/// tested without a server.
public struct OpsPage: Sendable {
    /// Which claimsd this is and since when.
    public struct Build: Sendable {
        public var version: String
        public var revision: String
        /// The instance label its own series carry (host:port).
        public var instance: String
        /// Start and render times, in milliseconds since the epoch.
        public var startedAt: Int64
        public var now: Int64
        /// `required` or `off` (CLAIMS_AUTH).
        public var authentication: String

        public init(version: String, revision: String, instance: String, startedAt: Int64, now: Int64, authentication: String) {
            self.version = version
            self.revision = revision
            self.instance = instance
            self.startedAt = startedAt
            self.now = now
            self.authentication = authentication
        }
    }

    /// One dependency as the readiness check found it.
    public struct Dependency: Sendable {
        public var name: String
        public var isUp: Bool
        public var isRequired: Bool
        public var latencyMs: Double
        public var error: String?

        public init(name: String, isUp: Bool, isRequired: Bool, latencyMs: Double, error: String? = nil) {
            self.name = name
            self.isUp = isUp
            self.isRequired = isRequired
            self.latencyMs = latencyMs
            self.error = error
        }
    }

    /// A rate or latency with its recent history.
    public struct Indicator: Sendable {
        /// A stable name for links and tests, e.g. `request_rate`.
        public var id: String
        public var title: String
        /// The latest value, formatted with its unit, or nil when the store has none.
        public var current: String?
        public var history: Sparkline
        /// The PromQL expression it was drawn from, shown so an operator can take it further.
        public var query: String
        /// Why the history could not be read, when it could not.
        public var error: String?

        public init(id: String, title: String, current: String?, history: Sparkline, query: String, error: String? = nil) {
            self.id = id
            self.title = title
            self.current = current
            self.history = history
            self.query = query
            self.error = error
        }
    }

    /// The outbox relay as this instance sees it.
    public struct Relay: Sendable {
        /// Whether this instance holds the relay lock; nil when unknown.
        public var isLeader: Bool?
        /// Outbox events not applied yet and the age of the oldest (reported by the leader).
        public var lagEvents: Double?
        public var lagSeconds: Double?

        public init(isLeader: Bool?, lagEvents: Double?, lagSeconds: Double?) {
            self.isLeader = isLeader
            self.lagEvents = lagEvents
            self.lagSeconds = lagSeconds
        }
    }

    /// A pending or firing alert.
    public struct Alert: Sendable {
        /// `firing` or `pending`.
        public var state: String
        public var name: String
        /// Its labels other than `alertname`, in order.
        public var labels: [(name: String, value: String)]
        public var summary: String?
        public var description: String?
        /// The `runbook_url` annotation; shown as a link only when it is an http(s) URL.
        public var runbook: String?
        /// When it became active, in milliseconds since the epoch.
        public var activeSince: Int64
        /// The value of the expression that made it active, formatted.
        public var value: String
        /// The last notification of it: when, where, and whether it was delivered.
        public var lastDelivery: String?

        public init(
            state: String, name: String, labels: [(name: String, value: String)], summary: String?, description: String?, runbook: String?,
            activeSince: Int64, value: String, lastDelivery: String?
        ) {
            self.state = state
            self.name = name
            self.labels = labels
            self.summary = summary
            self.description = description
            self.runbook = runbook
            self.activeSince = activeSince
            self.value = value
            self.lastDelivery = lastDelivery
        }
    }

    /// One line of the provider ranking.
    public struct Provider: Sendable {
        public var rank: Int
        public var npi: String
        /// The total net fee, formatted (e.g. `1234.50`).
        public var netFee: String
        public var claims: Int

        public init(rank: Int, npi: String, netFee: String, claims: Int) {
            self.rank = rank
            self.npi = npi
            self.netFee = netFee
            self.claims = claims
        }
    }

    /// The newest event of the payments feed.
    public struct FeedHead: Sendable {
        public var sequence: Int64
        /// When it was written (RFC 3339).
        public var writtenAt: String

        public init(sequence: Int64, writtenAt: String) {
            self.sequence = sequence
            self.writtenAt = writtenAt
        }
    }

    /// A claim an import rejected, waiting for review.
    public struct RejectedClaim: Sendable {
        public var id: String
        /// When it was received (RFC 3339).
        public var receivedAt: String
        /// Where in its import it was (`csv line 17`), and the import.
        public var source: String
        public var importID: String
        public var externalClaimNumber: String?
        /// What was wrong with it: field, rule and message of each violation.
        public var violations: [(field: String, rule: String, message: String)]
        /// The input as received.
        public var raw: String

        public init(
            id: String, receivedAt: String, source: String, importID: String, externalClaimNumber: String?,
            violations: [(field: String, rule: String, message: String)], raw: String
        ) {
            self.id = id
            self.receivedAt = receivedAt
            self.source = source
            self.importID = importID
            self.externalClaimNumber = externalClaimNumber
            self.violations = violations
            self.raw = raw
        }
    }

    /// One page of the review queue.
    public struct ReviewQueue: Sendable {
        /// The claims on this page, newest first.
        public var claims: [RejectedClaim]
        /// How many wait in the whole queue.
        public var waiting: Int
        /// The link to the next older page, and whether this is a later page (a link back to the
        /// newest is shown).
        public var olderPage: String?
        public var isLaterPage: Bool
        /// The token the console's forms carry (for a session cookie); nil when none is needed.
        public var formToken: String?
        /// What the last action did, said above the queue.
        public var notice: String?

        public init(claims: [RejectedClaim], waiting: Int, olderPage: String?, isLaterPage: Bool, formToken: String?, notice: String? = nil) {
            self.claims = claims
            self.waiting = waiting
            self.olderPage = olderPage
            self.isLaterPage = isLaterPage
            self.formToken = formToken
            self.notice = notice
        }
    }

    /// A claim screening flagged, as the review queue lists it.
    public struct FlaggedClaim: Sendable {
        public var id: String
        public var createdAt: String
        public var externalClaimNumber: String?
        public var providerNPI: String
        public var netFee: String
        public var lineCount: Int
        /// Whether it is held from payments until released.
        public var held: Bool
        /// Each flag's rule, line (nil: the whole claim) and message.
        public var flags: [(rule: String, line: Int?, message: String)]

        public init(
            id: String, createdAt: String, externalClaimNumber: String?, providerNPI: String, netFee: String, lineCount: Int, held: Bool,
            flags: [(rule: String, line: Int?, message: String)]
        ) {
            self.id = id
            self.createdAt = createdAt
            self.externalClaimNumber = externalClaimNumber
            self.providerNPI = providerNPI
            self.netFee = netFee
            self.lineCount = lineCount
            self.held = held
            self.flags = flags
        }
    }

    /// A page of the flagged claims waiting for review.
    public struct FlaggedQueue: Sendable {
        public var claims: [FlaggedClaim]
        public var waiting: Int
        public var held: Int
        /// The link to the next older page, and whether this is a later page.
        public var olderPage: String?
        public var isLaterPage: Bool
        /// The token the forms carry (for a session cookie); nil when none is needed.
        public var formToken: String?

        public init(claims: [FlaggedClaim], waiting: Int, held: Int, olderPage: String?, isLaterPage: Bool, formToken: String?) {
            self.claims = claims
            self.waiting = waiting
            self.held = held
            self.olderPage = olderPage
            self.isLaterPage = isLaterPage
            self.formToken = formToken
        }
    }

    /// The flagged claims' section of the review page: each claim with its flags and the form
    /// that clears it (and releases it to payments when it is held).
    static func flaggedSection(_ queue: FlaggedQueue, into page: inout HTMLText) {
        page.raw("<section data-section=\"flagged\"><h2>Flagged claims</h2><p class=\"summary\">")
        page.text(
            (queue.waiting == 1 ? "1 flagged claim waits for review" : "\(queue.waiting) flagged claims wait for review")
                + (queue.held > 0 ? ", \(queue.held) held from payments" : ""))
        page.raw("</p>")
        for claim in queue.claims {
            page.raw("<article class=\"flagged\"")
            page.attribute("data-flagged", claim.id)
            page.raw("><h3>")
            page.text("claim \(claim.id)" + (claim.externalClaimNumber.map { " · \($0)" } ?? "") + (claim.held ? " · held" : ""))
            page.raw("</h3><p class=\"summary\">")
            page.text("stored \(claim.createdAt) · provider \(claim.providerNPI) · net fee \(claim.netFee) · \(claim.lineCount) line(s)")
            page.raw("</p><ul class=\"violations\">")
            for flag in claim.flags {
                page.raw("<li>")
                if let line = flag.line { page.element("code", "line \(line)") }
                page.raw(" ")
                page.text(flag.message)
                page.raw(" <span class=\"rule\">")
                page.text(flag.rule)
                page.raw("</span></li>")
            }
            page.raw("</ul><form class=\"dismiss\" method=\"post\"")
            page.attribute("action", "/ops/flagged/\(claim.id)/clear")
            page.raw(">")
            page.formToken(queue.formToken)
            page.raw("<input name=\"reason\" required maxlength=\"500\" placeholder=\"What the review found\" aria-label=\"Reason\">")
            page.raw(claim.held ? "<button type=\"submit\">Clear and release to payments</button>" : "<button type=\"submit\">Clear</button>")
            page.raw("</form></article>")
        }
        page.pager(older: queue.olderPage, showsNewest: queue.isLaterPage)
        page.raw("</section>")
    }

    /// Which claimsd, since when, and how it authenticates.
    public var build: Build
    /// Each dependency's readiness, by name.
    public var dependencies: [Dependency]
    /// The figures drawn with an hour of history.
    public var indicators: [Indicator]
    /// The outbox relay as this instance sees it.
    public var relay: Relay
    /// Pending and firing alerts.
    public var alerts: [Alert]
    /// Why there are no alerts to show (no rule files loaded), when that is the reason.
    public var alertsNote: String?
    /// The top of the provider ranking.
    public var providers: [Provider]
    /// Where the ranking came from (`redis` or `postgresql`), or why it could not be read.
    public var providersSource: String
    /// The feed's newest event; nil when the feed is empty.
    public var feedHead: FeedHead?
    /// Sections that could not be read, each with the reason.
    public var problems: [String]
    /// Seconds between automatic reloads; 0 turns them off.
    public var refreshSeconds: Int
    /// How many rejected claims wait for review; nil when the queue could not be read (see
    /// ``problems``). The queue itself is its own page (``OpsReviewPage``), which does not
    /// reload itself under an operator typing a reason.
    public var reviewWaiting: Int?
    /// How many claims screening flagged wait for review, and how many of them are held; nil
    /// when that could not be read.
    public var flaggedWaiting: (waiting: Int, held: Int)?
    /// Who is signed in to the console by its session cookie; shown with a sign-out button.
    /// nil for a request that carried its own credential.
    public var viewer: String?

    public init(
        build: Build, dependencies: [Dependency], indicators: [Indicator], relay: Relay, alerts: [Alert], alertsNote: String? = nil,
        providers: [Provider], providersSource: String, feedHead: FeedHead?, problems: [String] = [], refreshSeconds: Int = 30,
        reviewWaiting: Int? = nil, viewer: String? = nil
    ) {
        self.build = build
        self.dependencies = dependencies
        self.indicators = indicators
        self.relay = relay
        self.alerts = alerts
        self.alertsNote = alertsNote
        self.providers = providers
        self.providersSource = providersSource
        self.feedHead = feedHead
        self.problems = problems
        self.refreshSeconds = refreshSeconds
        self.reviewWaiting = reviewWaiting
        self.viewer = viewer
    }

    /// The whole document. Styles come from `stylesheet` (a separate resource, so the page's
    /// Content-Security-Policy needs no inline styles); there is no script.
    public func html(stylesheet: String = "/ops/assets/ops.css") -> String {
        var page = HTMLText.document(title: "claimsd operations — \(build.instance)", stylesheet: stylesheet, refreshSeconds: refreshSeconds)
        header(into: &page)
        page.problems(problems)
        now(into: &page)
        alertsSection(into: &page)
        if let waiting = reviewWaiting {
            page.raw("<section data-section=\"review\"><h2>Review queue</h2><p>")
            page.text(waiting == 1 ? "1 rejected claim waits for review. " : "\(waiting) rejected claims wait for review. ")
            page.raw("<a href=\"/ops/review\">Review</a></p>")
            if let flagged = flaggedWaiting {
                page.raw("<p data-flagged-waiting>")
                page.text(
                    (flagged.waiting == 1 ? "1 flagged claim waits" : "\(flagged.waiting) flagged claims wait")
                        + (flagged.held > 0 ? ", \(flagged.held) of them held from payments." : "."))
                page.raw("</p>")
            }
            page.raw("</section>")
        }
        ranking(into: &page)
        return page.finish()
    }

    private func header(into page: inout HTMLText) {
        let down = dependencies.filter { !$0.isUp }
        let status = down.contains { $0.isRequired } ? "down" : (down.isEmpty ? "ok" : "degraded")
        page.raw("<header")
        page.attribute("data-status", status)
        page.raw("><h1>claimsd operations</h1><p class=\"build\">")
        page.text("\(build.instance) · version \(build.version) (\(build.revision)) · up \(Self.duration(milliseconds: build.now - build.startedAt))")
        page.text(" · as of \(Self.utc(build.now))")
        page.raw("</p><p class=\"status status-\(status)\">")
        page.text(status == "ok" ? "All dependencies answer" : status == "degraded" ? "Degraded: \(down.map(\.name).joined(separator: ", ")) down" : "Down: \(down.map(\.name).joined(separator: ", "))")
        page.raw("</p>")
        if build.authentication == "off" {
            page.raw("<p class=\"warning\">Authentication is off (CLAIMS_AUTH=off): every request acts as admin.</p>")
        }
        page.raw("<nav>")
        page.raw(refreshSeconds > 0 ? "<a href=\"/ops?refresh=off\">Stop refreshing</a>" : "<a href=\"/ops\">Refresh every 30 s</a>")
        if let viewer {
            page.raw(" · ")
            page.text("Signed in as \(viewer)")
            page.raw(" <form class=\"sign-out\" method=\"post\" action=\"/ops/logout\"><button type=\"submit\">Sign out</button></form>")
        }
        page.raw("</nav></header>")
    }

    private func now(into page: inout HTMLText) {
        page.raw("<section data-section=\"now\"><h2>Now</h2><table class=\"dependencies\"><thead><tr><th>Dependency</th><th>State</th><th>Check</th><th></th></tr></thead><tbody>")
        for dependency in dependencies {
            page.raw("<tr")
            page.attribute("data-dependency", dependency.name)
            page.raw(">")
            page.element("td", dependency.name + (dependency.isRequired ? "" : " (optional)"))
            page.element("td", dependency.isUp ? "up" : "down", class: dependency.isUp ? "up" : "down")
            page.element("td", Self.decimal(dependency.latencyMs, digits: 1) + " ms")
            page.element("td", dependency.error ?? "")
            page.raw("</tr>")
        }
        page.raw("</tbody></table><dl class=\"relay\">")
        page.element("dt", "Relay leader")
        page.element("dd", relay.isLeader.map { $0 ? "this instance" : "another instance" } ?? "unknown")
        page.element("dt", "Outbox lag")
        page.element(
            "dd",
            relay.lagEvents.map { events in "\(Self.decimal(events, digits: 0)) events, oldest \(Self.decimal(relay.lagSeconds ?? 0, digits: 1)) s" }
                ?? "reported by the leader")
        page.element("dt", "Payments feed")
        page.element("dd", feedHead.map { "newest event \($0.sequence), written \($0.writtenAt)" } ?? "empty")
        page.raw("</dl><div class=\"indicators\">")
        for indicator in indicators {
            page.raw("<figure class=\"indicator\"")
            page.attribute("data-indicator", indicator.id)
            page.raw("><figcaption>")
            page.element("span", indicator.title, class: "title")
            page.element("span", indicator.current ?? "–", class: "current")
            page.raw("</figcaption>")
            page.raw(indicator.history.svg(label: "\(indicator.title), last hour"))
            if let error = indicator.error { page.element("p", error, class: "error") }
            page.raw("<code")
            page.attribute("title", "PromQL")
            page.raw(">")
            page.text(indicator.query)
            page.raw("</code></figure>")
        }
        page.raw("</div></section>")
    }

    private func alertsSection(into page: inout HTMLText) {
        let firing = alerts.filter { $0.state == "firing" }.count
        page.raw("<section data-section=\"alerts\"><h2>Alerts</h2><p class=\"summary\">")
        page.text("\(firing) firing, \(alerts.count - firing) pending")
        page.raw("</p>")
        if let note = alertsNote { page.element("p", note, class: "note") }
        if !alerts.isEmpty {
            page.raw("<table class=\"alerts\"><thead><tr><th>State</th><th>Alert</th><th>Labels</th><th>Summary</th><th>Active since</th><th>Value</th><th>Last notification</th></tr></thead><tbody>")
            // Firing first, then by name.
            for alert in alerts.sorted(by: { ($0.state == "firing" ? 0 : 1, $0.name) < ($1.state == "firing" ? 0 : 1, $1.name) }) {
                page.raw("<tr")
                page.attribute("data-alert", alert.name)
                page.attribute("data-alert-state", alert.state)
                page.raw(">")
                page.element("td", alert.state, class: alert.state)
                page.raw("<td>")
                page.text(alert.name)
                if let runbook = alert.runbook, Self.isWebLink(runbook) {
                    page.raw(" <a")
                    page.attribute("href", runbook)
                    page.raw(" rel=\"noopener noreferrer\">runbook</a>")
                }
                page.raw("</td><td>")
                for label in alert.labels {
                    page.element("span", "\(label.name)=\(label.value)", class: "label")
                    page.raw(" ")
                }
                page.raw("</td><td>")
                if let summary = alert.summary { page.text(summary) }
                if let description = alert.description { page.element("p", description, class: "description") }
                page.raw("</td>")
                page.element("td", Self.utc(alert.activeSince))
                page.element("td", alert.value)
                page.element("td", alert.lastDelivery ?? "none yet")
                page.raw("</tr>")
            }
            page.raw("</tbody></table>")
        }
        page.raw("</section>")
    }

    static func reviewSection(_ review: ReviewQueue, into page: inout HTMLText) {
        page.raw("<section data-section=\"review\"><h2>Review queue</h2><p class=\"summary\">")
        page.text(review.waiting == 1 ? "1 rejected claim waits for review" : "\(review.waiting) rejected claims wait for review")
        page.raw("</p>")
        if let notice = review.notice { page.element("p", notice, class: "notice") }
        for claim in review.claims {
            page.raw("<article class=\"rejected\"")
            page.attribute("data-rejected", claim.id)
            page.raw("><h3>")
            page.text(claim.source + (claim.externalClaimNumber.map { " · claim \($0)" } ?? ""))
            page.raw("</h3><p class=\"summary\">")
            page.text("received \(claim.receivedAt) · import \(claim.importID)")
            page.raw("</p><ul class=\"violations\">")
            page.violations(claim.violations)
            page.raw("</ul><details><summary>Input as received</summary><pre>")
            page.text(claim.raw)
            page.raw("</pre></details><p><a")
            page.attribute("href", "/ops/review/\(claim.id)")
            page.raw(">Correct and resubmit</a></p><form class=\"dismiss\" method=\"post\"")
            page.attribute("action", "/ops/review/\(claim.id)/dismiss")
            page.raw(">")
            page.formToken(review.formToken)
            page.raw("<input name=\"reason\" required maxlength=\"500\" placeholder=\"Why it needs no correction\" aria-label=\"Reason\">")
            page.raw("<button type=\"submit\">Dismiss</button></form></article>")
        }
        page.pager(older: review.olderPage, showsNewest: review.isLaterPage)
        page.raw("</section>")
    }

    private func ranking(into page: inout HTMLText) {
        page.raw("<section data-section=\"providers\"><h2>Top providers</h2><p class=\"summary\">")
        page.text("by total net fee, from \(providersSource)")
        page.raw("</p><table class=\"providers\"><thead><tr><th>#</th><th>Provider NPI</th><th>Net fee</th><th>Claims</th></tr></thead><tbody>")
        for provider in providers {
            page.raw("<tr")
            page.attribute("data-provider", provider.npi)
            page.raw(">")
            page.element("td", String(provider.rank))
            page.element("td", provider.npi)
            page.element("td", provider.netFee, class: "number")
            page.element("td", String(provider.claims), class: "number")
            page.raw("</tr>")
        }
        page.raw("</tbody></table></section>")
    }

    /// Whether `url` is an absolute http or https URL (a `javascript:` link must never render).
    static func isWebLink(_ url: String) -> Bool {
        let lowered = url.lowercased()
        return lowered.hasPrefix("https://") || lowered.hasPrefix("http://")
    }

    /// `x` rounded to `digits` decimals, without an exponent.
    public static func decimal(_ x: Double, digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "NaN" : (x > 0 ? "+Inf" : "-Inf") }
        var scale = 1.0
        for _ in 0..<max(0, digits) { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9e15 else { return String(x) }
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        var text = (x < 0 && units > 0 ? "-" : "") + String(whole)
        if digits > 0 {
            let fraction = String(units % UInt64(scale))
            text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return text
    }

    /// `3 d 4 h`, `2 h 5 min`, `7 min`, `12 s`.
    public static func duration(milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3_600, seconds % 3_600 / 60)
        if days > 0 { return "\(days) d \(hours) h" }
        if hours > 0 { return "\(hours) h \(minutes) min" }
        if minutes > 0 { return "\(minutes) min" }
        return "\(seconds) s"
    }

    /// `2026-12-01 22:40:03 UTC` for a time in milliseconds since the epoch.
    public static func utc(_ milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(CalendarDate(daysSinceEpoch: Int(days))) \(two(secondOfDay / 3_600)):\(two(secondOfDay % 3_600 / 60)):\(two(secondOfDay % 60)) UTC"
    }
}
