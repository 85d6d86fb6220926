import PromQL
import TestSupport
import Testing
import TimeSeries

@Suite struct ParserTests {
    func parse(_ query: String) throws -> Expr { try Parser.parse(query) }

    @Test(arguments: [
        "1", "-1.5", "0x1F", "Inf", "-Inf", "NaN", "\"a string\"",
        "up", "up{job=\"claimsd\"}", "{__name__=~\"http_.*\", code!=\"200\"}", "http_requests_total{code=~\"5..\", method!~\"GET|HEAD\"}",
        "up offset 5m", "up offset -1h30m", "up @ 1700000000", "up @ start()", "rate(x[5m] @ end() offset 1m)", "x[1h:]", "x[1h:5m] offset 10m",
        "rate(http_requests_total[5m])", "sum by (route) (rate(x[5m]))", "sum(x) without (instance)", "topk(3, x)", "quantile(0.9, x)",
        "count_values(\"value\", x)", "a + b * c", "(a + b) * c", "a ^ b ^ c", "-a ^ b", "a == bool b", "a > on (job) group_left (team) b",
        "a / ignoring (code) group_right b", "a and b", "a or on (x) b", "a unless ignoring (y) b", "1 < bool 2", "a atan2 b",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))", "label_replace(x, \"dst\", \"$1\", \"src\", \"(.*)\")",
        "label_join(x, \"dst\", \",\", \"a\", \"b\")", "day_of_week()", "round(x, 0.5)", "abs(-x)", "max_over_time(deriv(x[5m])[30m:1m])",
        "time() - timestamp(up)", "vector(1) + scalar(sum(x))", "absent(nonexistent{job=\"a\"})",
    ])
    func everyConstructRoundTrips(_ query: String) throws {
        let expr = try parse(query)
        let printed = expr.description
        #expect(try parse(printed).description == printed, "\(query) printed as \(printed)")
        // NaN is not equal to itself, so trees holding it compare by their text only.
        if !query.contains("NaN") { #expect(try parse(printed) == expr, "\(query) printed as \(printed)") }
    }

    @Test func precedenceAndAssociativityFollowPrometheus() throws {
        #expect(try parse("1 + 2 * 3") == .binary(.add, .number(1), .binary(.multiply, .number(2), .number(3), matching: nil, returnBool: false), matching: nil, returnBool: false))
        #expect(try parse("2 ^ 3 ^ 2") == .binary(.power, .number(2), .binary(.power, .number(3), .number(2), matching: nil, returnBool: false), matching: nil, returnBool: false))
        #expect(try parse("1 - 2 - 3") == .binary(.subtract, .binary(.subtract, .number(1), .number(2), matching: nil, returnBool: false), .number(3), matching: nil, returnBool: false))
        guard case .binary(.or, _, let rhs, _, _) = try parse("a or b and c") else { Issue.record("or is not the root"); return }
        guard case .binary(.and, _, _, _, _) = rhs else { Issue.record("and does not bind tighter than or"); return }
        // Comments are ignored.
        #expect(try parse("up # the up metric\n + 1") == parse("up + 1"))
    }

    @Test(arguments: [
        ("sum(rate(x[5m])", "1:16: parse error: unexpected end of input"),
        ("rate(x)", "expected type range vector in call to function \"rate\", got instant vector"),
        ("foo(x)", "unknown function with name \"foo\""),
        ("x[5x]", "bad number or duration syntax"),
        ("x{a=\"b}", "unterminated quoted string"),
        ("{}", "vector selector must contain at least one non-empty matcher"),
        ("{a=\"\"}", "vector selector must contain at least one non-empty matcher"),
        ("x offset 5m offset 1m", "offset may not be set multiple times"),
        ("1 > 2", "comparisons between scalars must use BOOL modifier"),
        ("1 and 2", "set operator \"and\" not allowed in binary scalar expression"),
        ("rate(x[5m]) offset 1m", "offset modifier must be preceded by"),
        ("sum(x, y)", "wrong number of arguments for aggregate expression"),
        ("topk(x)", "wrong number of arguments for aggregate expression"),
        ("topk(\"a\", x)", "expected type scalar in aggregation parameter"),
        ("x[5m] + 1", "binary expression must contain only scalar and instant vector types"),
        ("abs(x, y)", "argument(s) in call to \"abs\""),
        ("x{a=~\"(\"}", "invalid regular expression"),
        ("foo{__name__=\"bar\"}", "metric name must not be set twice"),
        ("(1 + 2", "unexpected end of input"),
        ("1 + ", "unexpected end of input"),
        ("x a b", "unexpected identifier"),
        ("", "no expression found in input"),
        ("a and on (x) group_left b", "no grouping allowed for \"and\" operation"),
        ("rate(x[5m])[1h]", "ranges only allowed for vector selectors"),
    ])
    func malformedQueriesSayWhereAndWhat(_ query: String, _ message: String) {
        #expect {
            _ = try parse(query)
        } throws: { error in
            guard let error = error as? ParseError else { return false }
            return error.description.contains(message) && error.description.contains("parse error")
        }
    }

    @Test func randomInputNeverCrashesTheParser() async throws {
        try await onOwnThread { self.parseRandomInput() }
    }

    func parseRandomInput() {
        let seed = SplitMix.testSeed("randomInputNeverCrashesTheParser", variable: "CLAIMS_TEST_PARSER_SEED")
        var state = seed
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let pieces = ["sum", "(", ")", "rate", "x", "[5m]", "{", "}", "a=\"b\"", ",", "+", "-", "*", "/", "^", "by", "without", "on", "ignoring",
                      "group_left", "offset", "@", "1", "0x", "Inf", "\"", "'", "`", "[1h:1m]", "bool", "==", ">", "and", "or", "topk", "#", "\n", " ", ":"]
        for _ in 0..<3000 {
            let count = Int(next() % 12) + 1
            let query = (0..<count).map { _ in pieces[Int(next() % UInt64(pieces.count))] }.joined()
            if let expr = try? Parser.parse(query) {
                // Whatever parses prints as something that parses to the same tree.
                #expect((try? Parser.parse(expr.description)) == expr, "\(query)")
            }
        }
    }
}
