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
    ///
    /// Outside ASCII, only invisible characters are ignored: format characters (zero-width
    /// space, joiners, byte-order mark, soft hyphen) and Unicode spaces, which spreadsheets and
    /// export tools leave in headers. Any visible character outside ASCII ("providér_npi") makes
    /// the key name no field: it is a different name, not a spelling of a known one.
    public static func matching(_ key: String) -> ClaimField? {
        matchingReportingInvisible(key)?.field
    }

    /// The field a key names, and whether invisible characters were ignored to find it.
    public static func matchingReportingInvisible(_ key: String) -> (field: ClaimField, ignoredInvisible: Bool)? {
        // Every key of every line passes here: hash the normalized bytes as they are read and
        // confirm the one candidate, instead of building the normalized string.
        var hash = NormalizedKeyHash()
        var ascii = true
        for byte in key.utf8 {
            if byte >= 0x80 { ascii = false }
            hash.add(byte)
        }
        guard ascii || key.unicodeScalars.allSatisfy({ $0.isASCII || $0.isInvisible }) else { return nil }
        guard let candidate = synonymsByHash[hash.value], NormalizedKeyHash.equal(key, normalized: candidate.key) else { return nil }
        return (candidate.field, !ascii)
    }

    /// ``synonyms`` by the hash of their normalized key (a unit test proves the hashes distinct).
    static let synonymsByHash: [UInt64: (key: String, field: ClaimField)] = {
        var table: [UInt64: (key: String, field: ClaimField)] = [:]
        for (key, field) in synonyms {
            var hash = NormalizedKeyHash()
            for byte in key.utf8 { hash.add(byte) }
            table[hash.value] = (key, field)
        }
        return table
    }()

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
        String(decoding: key.utf8.compactMap(NormalizedKeyHash.kept), as: UTF8.self)
    }

    static let synonyms: [String: ClaimField] = {
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

extension ClaimField {
    /// The field's position in `allCases`, for ``FieldMap``.
    var ordinal: Int {
        switch self {
        case .serviceDate: return 0
        case .submittedProcedure: return 1
        case .quadrant: return 2
        case .groupID: return 3
        case .subscriberID: return 4
        case .providerNPI: return 5
        case .providerFees: return 6
        case .allowedFees: return 7
        case .memberCoinsurance: return 8
        case .memberCopay: return 9
        }
    }
}

/// A value per field in a fixed array: the validator fills and reads several of these for every
/// line, where a hashed dictionary would dominate the cost of validation.
struct FieldMap<Value> {
    private var slots = [Value?](repeating: nil, count: ClaimField.allCases.count)

    subscript(field: ClaimField) -> Value? {
        get { slots[field.ordinal] }
        set { slots[field.ordinal] = newValue }
    }

    /// The fields that have a value, in `allCases` order.
    var entries: [(field: ClaimField, value: Value)] {
        ClaimField.allCases.compactMap { field in slots[field.ordinal].map { (field, $0) } }
    }
}

/// FNV-1a over a key's bytes as ``ClaimField/normalizedKey(_:)`` keeps them (ASCII letters
/// lowercased, digits; everything else skipped), computed without building that key.
struct NormalizedKeyHash {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    /// The byte as normalization keeps it, or nil when it is dropped.
    static func kept(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return byte
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte + 32
        default: return nil
        }
    }

    mutating func add(_ byte: UInt8) {
        guard let kept = Self.kept(byte) else { return }
        value = (value ^ UInt64(kept)) &* 0x0000_0100_0000_01B3
    }

    /// Whether `key` normalizes to `normalized`.
    static func equal(_ key: String, normalized: String) -> Bool {
        var expected = normalized.utf8.makeIterator()
        for byte in key.utf8 {
            guard let kept = kept(byte) else { continue }
            guard expected.next() == kept else { return false }
        }
        return expected.next() == nil
    }
}

extension Unicode.Scalar {
    /// A character that shows nothing: a format character (zero-width space and joiners,
    /// byte-order mark, soft hyphen, direction marks) or a space or separator.
    var isInvisible: Bool {
        switch properties.generalCategory {
        case .format, .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
