/// Why screening set a claim aside for review. A flag never rejects: a flagged claim is stored
/// and priced as usual, carries its flags, and waits in the review queue (and, with
/// `CLAIMS_HOLD_FLAGGED`, is not sent to payments until it is reviewed).
public struct ClaimFlag: Sendable, Equatable, Hashable {
    /// The screening rule: `net_fee_over_average`, `duplicate_line` or
    /// `future_or_stale_service_date`.
    public var rule: String
    /// The claim line (1-based) the flag is about; nil for the claim as a whole.
    public var line: Int?
    /// What was found, with the figures, for the reviewer.
    public var message: String

    public init(rule: String, line: Int?, message: String) {
        self.rule = rule
        self.line = line
        self.message = message
    }
}
