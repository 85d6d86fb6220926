import Claims
import Foundation
import Screening
import TestSupport
import Testing

/// The screening rules over a generated stream of claims, each flag checked against a plain
/// recomputation from the list of claims screened before it; and the trailing averages exact
/// under concurrent recording and as the window moves.
@Suite struct ScreenerTests {
    static let day: Int64 = 86_400_000
    static let today = CalendarDate(year: 2026, month: 12, day: 2)!
    static let now = Int64(today.daysSinceEpoch) * day + 12 * 3_600_000

    static func line(_ number: Int, procedure: String, npi: String, subscriber: String, date: CalendarDate, cents: Int64, quadrant: String? = nil) -> ClaimLine {
        ClaimLine(
            lineNumber: number, serviceDate: date, submittedProcedure: procedure, quadrant: quadrant, groupID: "G", subscriberID: subscriber,
            providerNPI: npi, providerFees: Money(cents: cents), allowedFees: .zero, memberCoinsurance: .zero, memberCopay: .zero)
    }

    /// Every rule flags exactly what a recomputation from the claims before says it should.
    @Test func eachRuleFlagsExactlyWhatItShould() {
        var random = SplitMix.forTest("eachRuleFlagsExactlyWhatItShould", variable: "SCREENING_SEED")
        var settings = ScreeningSettings()
        settings.minimumSamples = 5
        settings.feeFactor = 2
        settings.staleAfterDays = 365
        let screener = Screener(settings: settings)
        let procedures = ["D0120", "D0180", "D1110", "D2740"]
        let providers = ["1000000001", "1000000002", "1000000003"]
        // What was stored so far: (time, procedure, cents) per line, (time, npi, cents) per share, and keys.
        var lineHistory: [(time: Int64, key: String, cents: Int64)] = []
        var shareHistory: [(time: Int64, key: String, cents: Int64)] = []
        var claimedKeys = Set<String>()
        var counts: [String: Int] = [:]
        for index in 0..<2_000 {
            let time = Self.now - 40 * Self.day + Int64(index) * 30 * 60_000  // every half hour: the 30-day window moves
            let npi = providers[random.next(upTo: providers.count)]
            let lineCount = 1 + random.next(upTo: 3)
            var lines: [ClaimLine] = []
            for number in 1...lineCount {
                let procedure = procedures[random.next(upTo: procedures.count)]
                // Mostly near 100.00, now and then far above.
                let cents = random.next(upTo: 20) == 0 ? Int64(30_000 + random.next(upTo: 20_000)) : Int64(8_000 + random.next(upTo: 4_000))
                let dayOffset: Int
                switch random.next(upTo: 40) {
                case 0: dayOffset = 1 + random.next(upTo: 30)  // future
                case 1: dayOffset = -366 - random.next(upTo: 900)  // stale
                default: dayOffset = -random.next(upTo: 365)
                }
                let date = CalendarDate(daysSinceEpoch: Int(time / Self.day) + dayOffset)
                lines.append(Self.line(number, procedure: procedure, npi: npi, subscriber: "S\(random.next(upTo: 40))", date: date, cents: cents, quadrant: random.next(upTo: 2) == 0 ? "UR" : nil))
            }
            let claimDay = CalendarDate(daysSinceEpoch: Int(time / Self.day))
            // Lines already stored (the database's answer) and within the claim itself.
            func key(_ line: ClaimLine) -> String { "\(line.subscriberID)|\(line.submittedProcedure)|\(line.quadrant ?? "-")|\(line.serviceDate)" }
            let claimed = Set(lines.filter { claimedKeys.contains(key($0)) }.map(\.lineNumber))
            var seen = Set<ServiceKey>()
            let flags = screener.flags(for: lines, today: claimDay, now: time, claimed: claimed, seen: &seen)

            // The expected flags, recomputed from the history.
            var expected: [ClaimFlag] = []
            for line in lines {
                let age = claimDay.daysSinceEpoch - line.serviceDate.daysSinceEpoch
                if age < 0 || age > 365 { expected.append(ClaimFlag(rule: "future_or_stale_service_date", line: line.lineNumber, message: "")) }
            }
            var inClaim = Set<String>()
            for line in lines where claimed.contains(line.lineNumber) || !inClaim.insert(key(line)).inserted {
                expected.append(ClaimFlag(rule: "duplicate_line", line: line.lineNumber, message: ""))
            }
            // The windows hold whole slices: an amount counts while its slice is one of the last 60.
            let width = settings.feeWindow / 60
            func inWindow(_ stored: Int64) -> Bool { time / width - stored / width < 60 }
            func over(_ cents: Int64, _ history: [(time: Int64, key: String, cents: Int64)], _ key: String) -> Bool {
                let amounts = history.filter { $0.key == key && inWindow($0.time) }.map(\.cents)
                let sum = amounts.reduce(0, +)
                return amounts.count >= 5 && sum > 0 && Double(cents) * Double(amounts.count) > 2 * Double(sum)
            }
            for line in lines where over(line.netFee.cents, lineHistory, line.submittedProcedure) {
                expected.append(ClaimFlag(rule: "net_fee_over_average", line: line.lineNumber, message: ""))
            }
            for share in ProviderShare.shares(of: lines) where over(share.netFee.cents, shareHistory, share.providerNPI) {
                expected.append(ClaimFlag(rule: "net_fee_over_average", line: nil, message: ""))
            }
            let found = flags.map { ClaimFlag(rule: $0.rule, line: $0.line, message: "") }
            #expect(found == expected, "claim \(index): \(flags)")
            for flag in flags { counts[flag.rule, default: 0] += 1 }

            screener.record(lines, at: time)
            for line in lines {
                lineHistory.append((time, line.submittedProcedure, line.netFee.cents))
                claimedKeys.insert(key(line))
            }
            for share in ProviderShare.shares(of: lines) { shareHistory.append((time, share.providerNPI, share.netFee.cents)) }
        }
        // The data set exercises every rule.
        for rule in ScreeningSettings.Rule.allCases { #expect(counts[rule.rawValue, default: 0] > 10, "\(rule): \(counts)") }
    }

    /// A message says what was found, with the figures.
    @Test func flagsSayWhatWasFound() {
        var settings = ScreeningSettings()
        settings.minimumSamples = 2
        let screener = Screener(settings: settings)
        let date = CalendarDate(daysSinceEpoch: Self.today.daysSinceEpoch - 3)
        for _ in 0..<2 { screener.record([Self.line(1, procedure: "D0180", npi: "1000000001", subscriber: "A", date: date, cents: 10_000)], at: Self.now) }
        var seen = Set<ServiceKey>()
        let flags = screener.flags(
            for: [
                Self.line(1, procedure: "D0180", npi: "1000000002", subscriber: "A", date: date, cents: 25_000),
                Self.line(2, procedure: "D0180", npi: "1000000002", subscriber: "A", date: date, cents: 100),
            ], today: Self.today, now: Self.now, seen: &seen)
        #expect(flags.map(\.message) == [
            "an earlier line of this claim, or of one stored with it, holds D0180 for this subscriber on \(date)",
            "the net fee 250.00 is over 2× the average 100.00 of 2 D0180 lines in the last 30 days",
        ])
    }

    /// Concurrent recording loses nothing: the totals equal the sum of what was recorded.
    @Test func averagesStayExactUnderConcurrentRecording() async {
        let averages = TrailingAverages(window: Self.day)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<5_000 {
                        averages.record([("k\(index % 7)", Int64(worker * 10_000 + index)), ("all", 1)], at: Self.now + Int64(index))
                    }
                }
            }
        }
        #expect(averages.total(of: "all", at: Self.now + 5_000)?.count == 40_000)
        var expected: [String: (Int64, Int)] = [:]
        for worker in 0..<8 {
            for index in 0..<5_000 {
                expected["k\(index % 7)", default: (0, 0)].0 += Int64(worker * 10_000 + index)
                expected["k\(index % 7)", default: (0, 0)].1 += 1
            }
        }
        for (key, value) in expected {
            let total = averages.total(of: key, at: Self.now + 5_000)
            #expect(total?.sum == value.0 && total?.count == value.1, "\(key)")
        }
    }

    /// Amounts leave the window a slice at a time, and a key with none left is forgotten.
    @Test func amountsLeaveTheWindowAsItMoves() {
        let averages = TrailingAverages(window: 60_000, buckets: 60)  // 1 s slices
        averages.record([("a", 100)], at: 1_000)
        averages.record([("a", 50)], at: 30_500)
        averages.load("a", sum: 7, count: 2, at: 500)  // history loaded late, into an earlier slice
        #expect(averages.total(of: "a", at: 30_999)! == (157, 4))
        #expect(averages.total(of: "a", at: 59_999)! == (157, 4))
        #expect(averages.total(of: "a", at: 60_000)! == (150, 2))  // second 0's slice is out
        #expect(averages.total(of: "a", at: 61_000)! == (50, 1))  // and second 1's
        #expect(averages.total(of: "a", at: 90_600) == nil)
        averages.record([("b", 1)], at: 0)
        averages.sweep(at: 1_000_000)
        #expect(averages.keyCount == 0)
    }

    @Test func ruleNamesAreCheckedWhenRead() throws {
        #expect(try ScreeningSettings.rules(parsing: "duplicate_line, future_or_stale_service_date") == [.duplicateLine, .futureOrStaleServiceDate])
        #expect(try ScreeningSettings.rules(parsing: "off").isEmpty)
        #expect(throws: ScreeningSettingsError.unknownRule("fraud")) { try ScreeningSettings.rules(parsing: "duplicate_line,fraud") }
    }

    @Test func calendarDaysRoundTrip() {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            #expect(CalendarDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(CalendarDate(year: 1970, month: 1, day: 1)!.daysSinceEpoch == 0)
        #expect(CalendarDate(year: 2000, month: 3, day: 1)!.daysSinceEpoch == 11_017)
    }
}
