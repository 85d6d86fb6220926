/// The fields of a claim line, and how messy input names map onto them.
public enum ClaimField: String, CaseIterable, Sendable, Codable {
    case serviceDate = "service_date"
    case submittedProcedure = "submitted_procedure"
    case quadrant
    case groupID = "group_id"
    case subscriberID = "subscriber_id"
    case providerNPI = "provider_npi"
    case providerFees = "provider_fees"
    case allowedFees = "allowed_fees"
    case memberCoinsurance = "member_coinsurance"
    case memberCopay = "member_copay"

    /// The field a key names, matched ignoring case, spaces, underscores and punctuation, with
    /// the synonyms real exports use ("Plan/Group #", "Subscriber#", "member_co_ins", …).
    public static func matching(_ key: String) -> ClaimField? {
        synonyms[normalizedKey(key)]
    }

    /// Whether a key names the claim's external number rather than a line field.
    public static func isExternalClaimNumber(_ key: String) -> Bool {
        ["claimnumber", "claimno", "claimnum", "externalclaimnumber", "externalclaimid", "claim"].contains(normalizedKey(key))
    }

    /// Whether the field holds money.
    public var isMoney: Bool {
        switch self {
        case .providerFees, .allowedFees, .memberCoinsurance, .memberCopay: return true
        default: return false
        }
    }

    /// A key lowercased with everything but ASCII letters and digits removed.
    public static func normalizedKey(_ key: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.utf8.count)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): bytes.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte + 32)
            default: continue
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let synonyms: [String: ClaimField] = {
        var table: [String: ClaimField] = [:]
        let names: [ClaimField: [String]] = [
            .serviceDate: ["servicedate", "servicedttm", "servicedatetime", "dateofservice", "dos"],
            .submittedProcedure: ["submittedprocedure", "submittedproc", "procedure", "procedurecode", "cdtcode"],
            .quadrant: ["quadrant"],
            .groupID: ["plangroup", "plangroupnumber", "plangroupid", "groupid", "group", "groupnumber", "plan"],
            .subscriberID: ["subscriber", "subscriberid", "subscribernumber", "subscriberno"],
            .providerNPI: ["providernpi", "npi", "providerid"],
            .providerFees: ["providerfees", "providerfee"],
            .allowedFees: ["allowedfees", "allowedfee", "allowed"],
            .memberCoinsurance: ["membercoinsurance", "membercoins", "coinsurance"],
            .memberCopay: ["membercopay", "copay"],
        ]
        for (field, keys) in names {
            for key in keys { table[key] = field }
        }
        return table
    }()
}
