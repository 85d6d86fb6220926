public import Logging

/// Masks the values of metadata keys that can carry personal data or secrets, so they never
/// reach a log unmasked.
///
/// Keys are compared after lowercasing and dropping everything but letters and digits, so
/// `subscriber_id`, `Subscriber#` and `subscriberId` all match `subscriberid`. Identifiers keep
/// their last four characters (enough to correlate with the source system), secrets keep
/// nothing.
public struct PIIMasker: Sendable {
    /// Keys whose values identify a person; the last four characters stay visible.
    public var identifierKeys: Set<String>
    /// Keys whose values are secrets; nothing stays visible.
    public var secretKeys: Set<String>

    public static let standard = PIIMasker(
        identifierKeys: [
            "subscriber", "subscriberid", "memberid", "membername", "name", "firstname", "lastname",
            "patientname", "email", "phone", "ssn", "dateofbirth", "dob", "address", "username",
        ],
        secretKeys: [
            "password", "token", "accesstoken", "refreshtoken", "apikey", "authorization", "secret", "cookie",
        ]
    )

    public init(identifierKeys: Set<String>, secretKeys: Set<String>) {
        self.identifierKeys = identifierKeys
        self.secretKeys = secretKeys
    }

    /// The normalized form of a metadata key used for matching.
    public static func normalize(_ key: String) -> String {
        // Most keys are already lower-case letters and digits: no copy.
        if key.utf8.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return key
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(key.utf8.count)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): bytes.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte + 32)
            // Some non-ASCII letters lowercase to ASCII ones (the Kelvin sign to "k"): the
            // Unicode way for keys that have any.
            case 0x80...: return String(key.lowercased().unicodeScalars.filter { ("a"..."z").contains($0) || ("0"..."9").contains($0) }.map(Character.init))
            default: break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `value` masked when `key` names personal data or a secret, nested values included.
    public func mask(key: String, value: Logger.MetadataValue) -> Logger.MetadataValue {
        masked(key: key, value: value) ?? value
    }

    /// What ``mask(key:value:)`` returns when it differs from `value`; nil when nothing in it
    /// needs masking, so the caller keeps what it has.
    public func masked(key: String, value: Logger.MetadataValue) -> Logger.MetadataValue? {
        let normalized = Self.normalize(key)
        if secretKeys.contains(normalized) { return .string("[REDACTED]") }
        if identifierKeys.contains(normalized) { return .string(Self.maskIdentifier(value)) }
        switch value {
        case .dictionary(let dictionary):
            var changed = dictionary
            var anyMasked = false
            for (nestedKey, nestedValue) in dictionary {
                if let masked = masked(key: nestedKey, value: nestedValue) {
                    changed[nestedKey] = masked
                    anyMasked = true
                }
            }
            return anyMasked ? .dictionary(changed) : nil
        case .array(let elements):
            var changed = elements
            var anyMasked = false
            for (index, element) in elements.enumerated() {
                if let masked = masked(key: key, value: element) {
                    changed[index] = masked
                    anyMasked = true
                }
            }
            return anyMasked ? .array(changed) : nil
        default:
            return nil
        }
    }

    static func maskIdentifier(_ value: Logger.MetadataValue) -> String {
        let text = value.description
        guard text.count >= 8 else { return String(repeating: "*", count: max(text.count, 4)) }
        return String(repeating: "*", count: text.count - 4) + text.suffix(4)
    }
}
