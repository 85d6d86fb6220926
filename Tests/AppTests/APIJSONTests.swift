@testable import App
import PromQL
import Testing
import TimeSeries

/// Numbers and times written exactly as Prometheus's API writes them (Go's
/// strconv.FormatFloat(v, 'f', -1, 64); Unix seconds with up to three decimals).
@Suite struct APIJSONTests {
    @Test(arguments: [
        (0.0, "0"), (-0.0, "-0"), (1, "1"), (-42, "-42"), (0.1, "0.1"), (1.5, "1.5"), (123.456, "123.456"), (1e-7, "0.0000001"),
        (1.25e-5, "0.0000125"), (1e21, "1000000000000000000000"), (1.5e20, "150000000000000000000"), (9.007199254740993e15, "9007199254740992"),
        (Double.nan, "NaN"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (0.30000000000000004, "0.30000000000000004"),
    ])
    func valuesAreShortestPlainDecimals(_ number: Double, _ text: String) {
        #expect(APIJSON.value(number) == text)
    }

    @Test func timestampsAreSecondsWithUpToThreeDecimals() {
        #expect(APIJSON.timestamp(1_700_000_000_000) == "1700000000")
        #expect(APIJSON.timestamp(1_700_000_000_500) == "1700000000.5")
        #expect(APIJSON.timestamp(1_700_000_000_123) == "1700000000.123")
        #expect(APIJSON.timestamp(1_700_000_000_020) == "1700000000.02")
        #expect(APIJSON.timestamp(-1_500) == "-1.5")
        #expect(APIJSON.timestamp(4000) == "4")
    }

    @Test func aMatrixIsWrittenAsPrometheusWritesIt() {
        let series = RangeSeries(labels: Labels(["__name__": "up", "job": "a\"b"]), samples: [Sample(1000, 1), Sample(2500, .nan)])
        let text = String(decoding: APIJSON.result(.matrix([series])), as: UTF8.self)
        #expect(text == #"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\"b"},"values":[[1,"1"],[2.5,"NaN"]]}]}}"#)
    }
}
