import Testing
@testable import TimeSeries

@Suite struct ExpositionTests {
    func parse(_ text: String, _ format: ExpositionFormat = .prometheusText) throws -> [ExposedSample] {
        try ExpositionParser.parse(Array(text.utf8), format: format)
    }

    @Test func prometheusTextWithEscapesBucketsAndTimestamps() throws {
        let text = """
            # HELP http_requests_total Requests. Escaped \\\\ and \\n in help.
            # TYPE http_requests_total counter
            http_requests_total{method="post",code="200"} 1027 1395066363000
            http_requests_total{ method = "get" , code="400" , } 3
            # A comment that is not HELP or TYPE.

            msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
            metric_without_timestamp_and_labels 12.47
            something_weird{problem="division by zero"} +Inf -3982045
            rpc_duration_seconds_bucket{le="+Inf"}\t2693
            nan_value NaN
            negative -0.5e-3

            """
        let samples = try parse(text)
        #expect(samples.count == 8)
        #expect(samples[0] == ExposedSample(labels: labels("http_requests_total", ["method": "post", "code": "200"]), value: 1027, timestamp: 1_395_066_363_000))
        #expect(samples[1].labels == labels("http_requests_total", ["method": "get", "code": "400"]))
        #expect(samples[2].labels["path"] == #"C:\DIR\FILE.TXT"#)
        #expect(samples[2].labels["error"] == "Cannot find file:\n\"FILE.TXT\"")
        #expect(samples[3].timestamp == nil && samples[3].labels.count == 1)
        #expect(samples[4].value == .infinity && samples[4].timestamp == -3_982_045)
        #expect(samples[5].labels["le"] == "+Inf" && samples[5].value == 2693)
        #expect(samples[6].value.isNaN)
        #expect(samples[7].value == -0.0005)
    }

    @Test func openMetricsWithSecondsExemplarsAndEOF() throws {
        let text = """
            # TYPE acme_http_router_request_seconds summary
            # UNIT acme_http_router_request_seconds seconds
            # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
            acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32 1520879607.789
            acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
            # TYPE foo histogram
            foo_bucket{le="0.01"} 0
            foo_bucket{le="+Inf"} 17 # {trace_id="KOO5S4vxi0o"} 0.67
            foo_bucket{le="1"} 17 1520879607.7 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
            # EOF

            """
        let samples = try parse(text, .openMetrics)
        #expect(samples.count == 5)
        #expect(samples[0].timestamp == 1_520_879_607_789)
        #expect(samples[0].value == 9036.32)
        #expect(samples[1].timestamp == nil)
        #expect(samples[3].labels == labels("foo_bucket", ["le": "+Inf"]) && samples[3].value == 17)
        #expect(samples[4].timestamp == 1_520_879_607_700)
    }

    @Test(arguments: [
        ("metric{a=\"1\"} 1\nmetric{a=\"1\",} x\n", 2, "invalid value"),
        ("metric{a=1} 1\n", 1, "quoted value"),
        ("metric{a=\"1\" 1\n", 1, "expected ','"),
        ("metric{a=\"unterminated} 1\n", 1, "unterminated"),
        ("metric 1 notatime\n", 1, "invalid timestamp"),
        ("metric 1 2 3\n", 1, "unexpected"),
        ("1metric 1\n", 1, "expected a metric name"),
        ("metric{a=\"1\",a=\"2\"} 1\n", 1, "appears twice"),
        ("# TYPE metric bogus\nmetric 1\n", 1, "unknown metric type"),
        ("metric\n", 1, "missing value"),
        ("metric 0x10\n", 1, "invalid value"),
    ])
    func malformedTextNamesTheLine(_ text: String, _ line: Int, _ problem: String) {
        #expect {
            _ = try parse(text)
        } throws: { error in
            guard let error = error as? ExpositionError else { return false }
            return error.line == line && error.problem.contains(problem)
        }
    }

    @Test(arguments: [
        ("metric 1\n", "missing # EOF"),
        ("metric 1\n# EOF\nmetric 2\n", "after # EOF"),
        ("metric  1\n# EOF\n", "invalid value"),
        ("# random comment\n# EOF\n", "comment line"),
        ("metric 1\n\n# EOF\n", "empty line"),
        ("metric 1 # {a=\"b\"}\n# EOF\n", "exemplar value"),
        ("metric 1", "newline"),
    ])
    func malformedOpenMetricsIsRefused(_ text: String, _ problem: String) {
        #expect {
            _ = try parse(text, .openMetrics)
        } throws: { error in
            (error as? ExpositionError)?.problem.contains(problem) ?? false
        }
    }

    @Test func contentTypeChoosesTheFormat() {
        #expect(ExpositionFormat(contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8") == .openMetrics)
        #expect(ExpositionFormat(contentType: "text/plain; version=0.0.4") == .prometheusText)
        #expect(ExpositionFormat(contentType: nil) == .prometheusText)
    }
}
