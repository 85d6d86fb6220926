public import ClaimStore
import Claims
public import Postgres

/// The provider ranking as the tests work it out, independently of the production SQL: each
/// line's net fee summed by the line's provider over the claims that count (submitted or paid),
/// with the number of such claims each provider has a line on; largest total first, ties by NPI.
/// Written from the lines rather than the claims table so that a mistake shared by the
/// repository's queries and the relay cannot pass unnoticed.
public enum RankingTruth {
    public static func providerTotals(_ postgres: PostgresClient) async throws -> [ProviderTotal] {
        try await postgres.query(
            """
            SELECT l.provider_npi AS npi, sum(l.net_fee)::text AS total, count(DISTINCT l.claim_id)::int AS claims
            FROM claim_lines AS l JOIN claims AS c ON c.id = l.claim_id
            WHERE c.status = 'submitted' OR c.status = 'paid'
            GROUP BY l.provider_npi
            """
        ).rows.map { row in
            let total: String = try row.decode("total")
            guard let money = Money(parsing: total) else { throw TestEnvironmentError.commandFailed("total \(total) is not an amount") }
            return ProviderTotal(providerNPI: try row.decode("npi"), netFee: money, claims: try row.decode("claims"))
        }
        .sorted { ($0.netFee.cents, $1.providerNPI) > ($1.netFee.cents, $0.providerNPI) }
    }
}
