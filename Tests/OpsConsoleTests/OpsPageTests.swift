@testable import OpsConsole
import Testing

@Suite struct SparklineTests {
    /// Three points across a 240×40 box: x by time, y by value, 1 unit of inset top and bottom.
    @Test func pointsArePlacedByTimeAndValue() {
        let line = Sparkline(
            points: [.init(time: 0, value: 0), .init(time: 60_000, value: 5), .init(time: 120_000, value: 10)], start: 0, end: 120_000, step: 60_000)
        #expect(line.pathData == "M0 39 L120 20 L240 1")
        #expect(line.valueRange == 0...10)
    }

    @Test func aMissingStepOrANaNBreaksTheLine() {
        let gap = Sparkline(
            points: [.init(time: 0, value: 1), .init(time: 60_000, value: 2), .init(time: 180_000, value: 3), .init(time: 240_000, value: 1)],
            start: 0, end: 240_000, step: 60_000)
        // The scale runs from 0 to 3: 1 is at 26.3, 2 at 13.7.
        #expect(gap.pathData == "M0 26.3 L60 13.7 M180 1 L240 26.3")
        let nan = Sparkline(
            points: [.init(time: 0, value: 1), .init(time: 60_000, value: .nan), .init(time: 120_000, value: 3)], start: 0, end: 120_000, step: 60_000)
        #expect(nan.pathData == "M0 26.3 M240 1")
    }

    /// The scale starts at zero: a steady rate is a line along the top, not its rounding noise
    /// spread over the whole height; zero lies on the bottom; a series below zero has zero on top.
    @Test func theScaleStartsAtZeroAndNoDataSaysSo() {
        let flat = Sparkline(points: [.init(time: 0, value: 7), .init(time: 30_000, value: 7)], start: 0, end: 60_000, step: 30_000)
        #expect(flat.pathData == "M0 1 L120 1")
        let noisy = Sparkline(points: [.init(time: 0, value: 0.099), .init(time: 30_000, value: 0.098_999_999_9)], start: 0, end: 60_000, step: 30_000)
        #expect(noisy.pathData == "M0 1 L120 1")
        let zero = Sparkline(points: [.init(time: 0, value: 0), .init(time: 30_000, value: 0)], start: 0, end: 60_000, step: 30_000)
        #expect(zero.pathData == "M0 39 L120 39")
        let negative = Sparkline(points: [.init(time: 0, value: -2), .init(time: 30_000, value: -1)], start: 0, end: 60_000, step: 30_000)
        #expect(negative.pathData == "M0 39 L120 20" && negative.valueRange == -2...0)
        let empty = Sparkline(points: [.init(time: 0, value: .infinity)], start: 0, end: 60_000, step: 30_000)
        #expect(empty.pathData.isEmpty)
        #expect(empty.svg(label: "x").contains("no data") && !empty.svg(label: "x").contains("<path"))
        #expect(flat.svg(label: "a \"quoted\" <label>").contains("aria-label=\"a &quot;quoted&quot; &lt;label&gt;\""))
    }

    @Test func numbersHaveOneDecimalAtMost() {
        #expect(Sparkline.number(0) == "0")
        #expect(Sparkline.number(12.34) == "12.3")
        #expect(Sparkline.number(12.36) == "12.4")
        #expect(Sparkline.number(-0.5) == "-0.5")
        #expect(Sparkline.number(.nan) == "0")
    }
}

@Suite struct OpsPageTests {
    static func page(alerts: [OpsPage.Alert] = [], dependencies: [OpsPage.Dependency]? = nil) -> OpsPage {
        OpsPage(
            build: .init(version: "1.2.3", revision: "abc1234", instance: "127.0.0.1:8000", startedAt: 1_796_165_403_123 - 90_061_000, now: 1_796_165_403_123, authentication: "required"),
            dependencies: dependencies ?? [.init(name: "postgresql", isUp: true, isRequired: true, latencyMs: 1.25)],
            indicators: [
                .init(
                    id: "request_rate", title: "Requests", current: "12.5/s",
                    history: Sparkline(points: [.init(time: 0, value: 1), .init(time: 60_000, value: 2)], start: 0, end: 60_000, step: 60_000),
                    query: "sum(rate(claimsd_http_requests_total[5m]))")
            ],
            relay: .init(isLeader: true, lagEvents: 3, lagSeconds: 0.25), alerts: alerts,
            providers: [.init(rank: 1, npi: "1234567893", netFee: "1250.00", claims: 4)], providersSource: "redis",
            feedHead: .init(sequence: 42, writtenAt: "2026-12-01T22:00:00Z"))
    }

    @Test func dataIsEscapedAndOnlyWebRunbooksAreLinked() {
        let hostile = OpsPage.Alert(
            state: "firing", name: "<script>alert(1)</script>", labels: [(name: "severity", value: "\"page\"")], summary: "a & b", description: nil,
            runbook: "javascript:alert(1)", activeSince: 0, value: "1", lastDelivery: nil)
        let safe = OpsPage.Alert(
            state: "pending", name: "Slow", labels: [], summary: nil, description: "d", runbook: "https://runbooks.example/slow", activeSince: 0, value: "0.7",
            lastDelivery: "2026-12-01 22:00:00 UTC to http://am:9093: delivered")
        let html = Self.page(alerts: [safe, hostile]).html()
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("severity=&quot;page&quot;") && html.contains("a &amp; b"))
        #expect(!html.contains("javascript:"))
        #expect(html.contains("<a href=\"https://runbooks.example/slow\" rel=\"noopener noreferrer\">runbook</a>"))
        // Firing before pending.
        let firing = html.firstRange(of: "data-alert-state=\"firing\"")
        let pending = html.firstRange(of: "data-alert-state=\"pending\"")
        #expect(firing != nil && pending != nil)
        if let firing, let pending { #expect(firing.lowerBound < pending.lowerBound) }
        #expect(html.contains("1 firing, 1 pending"))
    }

    @Test func theHeaderSaysWhatIsDownAndHowLongClaimsdHasRun() {
        let ok = Self.page().html()
        #expect(ok.contains("data-status=\"ok\"") && ok.contains("up 1 d 1 h") && ok.contains("as of 2026-12-01 22:50:03 UTC"))
        #expect(ok.contains("<meta http-equiv=\"refresh\" content=\"30\">"))
        let degraded = Self.page(dependencies: [
            .init(name: "postgresql", isUp: true, isRequired: true, latencyMs: 1), .init(name: "redis", isUp: false, isRequired: false, latencyMs: 50, error: "connection refused"),
        ]).html()
        #expect(degraded.contains("data-status=\"degraded\"") && degraded.contains("Degraded: redis down") && degraded.contains("connection refused"))
        let down = Self.page(dependencies: [.init(name: "postgresql", isUp: false, isRequired: true, latencyMs: 5000, error: "timeout")]).html()
        #expect(down.contains("data-status=\"down\"") && down.contains("Down: postgresql"))
    }

    @Test func everySectionIsThere() {
        let html = Self.page().html()
        for section in ["now", "alerts", "providers"] { #expect(html.contains("data-section=\"\(section)\"")) }
        #expect(html.contains("data-indicator=\"request_rate\"") && html.contains("<path d=\"M0 20 L240 1\"/>"))
        #expect(html.contains("data-provider=\"1234567893\"") && html.contains("1250.00"))
        #expect(html.contains("newest event 42") && html.contains("this instance") && html.contains("3 events, oldest 0.3 s"))
        #expect(html.contains("0 firing, 0 pending"))
        var still = Self.page()
        still.refreshSeconds = 0
        #expect(!still.html().contains("http-equiv=\"refresh\"") && still.html().contains("Refresh every 30 s"))
    }

    /// A rejected claim's input is whatever a submitter sent: it is shown as text, never as
    /// markup; each dismiss form carries the form token when there is one.
    @Test func theReviewPageEscapesInputAndCarriesTheFormToken() {
        let claim = OpsPage.RejectedClaim(
            id: "0193-a", receivedAt: "2026-12-01T22:00:00.000Z", source: "csv line 3", importID: "0193-i", externalClaimNumber: "<b>C1</b>",
            violations: [(field: "provider_npi", rule: "npi_format", message: "must be 10 digits, got \"<img src=x>\"")],
            raw: #"{"provider_npi":"<script>alert(1)</script>"}"#)
        let page = OpsReviewPage(queue: .init(claims: [claim], waiting: 1, olderPage: "/ops/review?queue=1_x", isLaterPage: true, formToken: "t0k\"en")).html()
        #expect(!page.contains("<script>") && !page.contains("<img") && !page.contains("<b>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && page.contains("claim &lt;b&gt;C1&lt;/b&gt;"))
        #expect(page.contains("action=\"/ops/review/0193-a/dismiss\"") && page.contains("name=\"csrf\" value=\"t0k&quot;en\""))
        #expect(page.contains("1 rejected claim waits for review") && page.contains("href=\"/ops/review?queue=1_x\"") && page.contains(">Newest</a>"))
        #expect(!page.contains("http-equiv=\"refresh\""))
        let withoutToken = OpsReviewPage(queue: .init(claims: [claim], waiting: 1, olderPage: nil, isLaterPage: false, formToken: nil)).html()
        #expect(!withoutToken.contains("name=\"csrf\"") && !withoutToken.contains(">Newest</a>"))
        var console = OpsPageTests.page()
        console.reviewWaiting = 3
        #expect(console.html().contains("3 rejected claims wait for review. <a href=\"/ops/review\">Review</a>"))
    }

    @Test func flaggedClaimsAndTheCorrectionFormEscapeTheirText() {
        let held = OpsPage.FlaggedClaim(
            id: "0193-h", createdAt: "2026-12-01T22:00:00.000Z", externalClaimNumber: "<i>H</i>", providerNPI: "1000000001", netFee: "250.00",
            lineCount: 2, held: true, flags: [(rule: "net_fee_over_average", line: 2, message: "the net fee 250.00 is over 2× the average \"<x>\"")])
        let cleared = OpsPage.FlaggedClaim(
            id: "0193-c", createdAt: "2026-12-01T21:00:00.000Z", externalClaimNumber: nil, providerNPI: "1000000002", netFee: "80.00", lineCount: 1,
            held: false, flags: [(rule: "duplicate_line", line: nil, message: "a claim already holds D0180")])
        let flagged = OpsPage.FlaggedQueue(claims: [held, cleared], waiting: 2, held: 1, olderPage: nil, isLaterPage: false, formToken: "tok")
        let page = OpsReviewPage(queue: .init(claims: [], waiting: 0, olderPage: nil, isLaterPage: false, formToken: "tok"), flagged: flagged).html()
        #expect(page.contains("2 flagged claims wait for review, 1 held from payments") && !page.contains("<i>") && !page.contains("<x>"))
        #expect(page.contains("action=\"/ops/flagged/0193-h/clear\"") && page.contains("Clear and release to payments</button>"))
        #expect(page.contains("action=\"/ops/flagged/0193-c/clear\"") && page.contains(">Clear</button>") && page.contains("<code>line 2</code>"))
        var console = OpsPageTests.page()
        console.reviewWaiting = 0
        console.flaggedWaiting = (1, 0)
        #expect(console.html().contains("1 flagged claim waits."))

        let claim = OpsPage.RejectedClaim(
            id: "0193-a", receivedAt: "2026-12-01T22:00:00.000Z", source: "ndjson line 1", importID: "0193-i", externalClaimNumber: nil,
            violations: [(field: "claim", rule: "readable", message: "bad")], raw: "")
        let form = OpsCorrectionPage(
            claim: claim, violations: [(field: "member_copay", rule: "money", message: "not money: \"<b>\"")], isRetry: true, format: "json",
            text: "</textarea><script>x</script>", formToken: nil).html()
        #expect(!form.contains("<script>") && !form.contains("<b>") && form.contains("&lt;/textarea&gt;&lt;script&gt;"))
        #expect(form.contains("The correction was not accepted:") && form.contains("name=\"format\" value=\"json\"") && !form.contains("name=\"csrf\""))
    }

    @Test func timesDurationsAndDecimals() {
        #expect(OpsPage.utc(0) == "1970-01-01 00:00:00 UTC")
        #expect(OpsPage.utc(-1_000) == "1969-12-31 23:59:59 UTC")
        #expect(OpsPage.utc(951_782_400_000) == "2000-02-29 00:00:00 UTC")
        #expect(OpsPage.duration(milliseconds: 12_999) == "12 s")
        #expect(OpsPage.duration(milliseconds: 7_260_000) == "2 h 1 min")
        #expect(OpsPage.decimal(0.25, digits: 1) == "0.3")
        #expect(OpsPage.decimal(-1.5, digits: 2) == "-1.50")
        #expect(OpsPage.decimal(1234.0, digits: 0) == "1234")
        #expect(OpsPage.decimal(.nan, digits: 1) == "NaN")
        #expect(HTMLText.escape("plain") == "plain")
        #expect(HTMLText.escape("<a href='x'>&</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;")
    }
}
