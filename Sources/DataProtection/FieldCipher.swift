public import Crypto
import FoundationEssentials

/// Encrypts single column values with AES-256-GCM and makes their blind index.
///
/// A sealed value is self-describing: `01`, the key id's length and bytes, the 12-byte nonce,
/// the ciphertext and the 16-byte tag. The caller's `context` (the column and the row's key, say
/// `claim_lines.subscriber_id/<claim id>/1`) is authenticated but not stored, so a value copied
/// to another row or column does not open there.
public struct FieldCipher: Sendable {
    /// The keys.
    public let keyring: DataKeyring
    private let keysByID: [String: SymmetricKey]
    /// The index key's HMAC with its key already absorbed: each index copies it instead of
    /// hashing the key's pads again.
    private let preparedIndex: HMAC<SHA256>

    /// The sealed format's first byte.
    static let formatVersion: UInt8 = 1
    static let nonceBytes = 12
    static let tagBytes = 16

    public init(keyring: DataKeyring) {
        self.keyring = keyring
        self.keysByID = Dictionary(uniqueKeysWithValues: keyring.dataKeys.map { ($0.id, $0.key) })
        self.preparedIndex = HMAC<SHA256>(key: keyring.indexKey.key)
    }

    /// The id of the key that encrypts new values.
    public var encryptingKeyID: String { keyring.encryptingKey.id }

    /// `plaintext` encrypted with the encrypting key and a fresh random nonce.
    public func seal(_ plaintext: [UInt8], context: String) -> [UInt8] {
        Self.seal(plaintext, context: context, key: keyring.encryptingKey)
    }

    /// `plaintext` encrypted with the data key `keyID` (a key's check value is sealed with it).
    public func seal(_ plaintext: [UInt8], context: String, keyID: String) throws(FieldCipherError) -> [UInt8] {
        guard let key = keyring.dataKeys.first(where: { $0.id == keyID }) else { throw .unknownKey(id: keyID, context: context) }
        return Self.seal(plaintext, context: context, key: key)
    }

    // Arrays, not generic collections: every claim line passes here, and a generic call into
    // swift-crypto costs runtime metadata lookups.
    private static func seal(_ plaintext: [UInt8], context: String, key: DataKeyring.Key) -> [UInt8] {
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.seal(plaintext, using: key.key, nonce: AES.GCM.Nonce(), authenticating: Array(context.utf8))
        } catch {
            // AES-GCM fails only for a key of the wrong size, which DataKeyring rules out.
            preconditionFailure("AES-GCM refused a 256-bit key: \(error)")
        }
        var sealed: [UInt8] = []
        sealed.reserveCapacity(2 + key.id.utf8.count + nonceBytes + plaintext.count + tagBytes)
        sealed.append(formatVersion)
        sealed.append(UInt8(key.id.utf8.count))
        sealed.append(contentsOf: key.id.utf8)
        sealed.append(contentsOf: box.nonce)
        sealed.append(contentsOf: box.ciphertext)
        sealed.append(contentsOf: box.tag)
        return sealed
    }

    /// `text` encrypted, as ``seal(_:context:)``.
    public func seal(_ text: String, context: String) -> [UInt8] {
        seal(Array(text.utf8), context: context)
    }

    /// The plaintext of a sealed value, checked against `context`.
    public func open(_ sealed: [UInt8], context: String) throws(FieldCipherError) -> [UInt8] {
        guard let id = Self.keyID(of: sealed) else { throw .malformed(context: context) }
        guard let key = keysByID[id] else { throw .unknownKey(id: id, context: context) }
        let start = 2 + id.utf8.count
        guard sealed.count >= start + Self.nonceBytes + Self.tagBytes else { throw .malformed(context: context) }
        do {
            // Nonce, ciphertext and tag are stored as swift-crypto's combined form: one parse.
            let box = try AES.GCM.SealedBox(combined: Array(sealed[start...]))
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw .notAuthentic(id: id, context: context)
        }
    }

    /// The text of a sealed value, checked against `context`.
    public func openString(_ sealed: [UInt8], context: String) throws(FieldCipherError) -> String {
        let bytes = try open(sealed, context: context)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notText(context: context) }
        return text
    }

    /// The blind index of `value`: HMAC-SHA256 with the index key. Equal values have equal
    /// indexes, so an equality lookup needs no plaintext, and without the key nobody can tell
    /// which value an index stands for.
    public func blindIndex(_ value: String) -> [UInt8] {
        var mac = preparedIndex
        mac.update(data: Array(value.utf8))
        return Array(mac.finalize())
    }

    /// The id of the key that sealed `sealed`; `nil` when it is not a sealed value.
    public static func keyID(of sealed: [UInt8]) -> String? {
        guard sealed.count >= 2, sealed[0] == formatVersion else { return nil }
        let length = Int(sealed[1])
        guard length > 0, sealed.count >= 2 + length else { return nil }
        return String(validating: sealed[2..<(2 + length)], as: UTF8.self)
    }
}

/// Why a stored value could not be decrypted.
public enum FieldCipherError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The keyring lacks the key the value was encrypted with.
    case unknownKey(id: String, context: String)
    /// The value, its context or the key is not the one it was sealed with.
    case notAuthentic(id: String, context: String)
    /// The bytes are not a sealed value.
    case malformed(context: String)
    /// The plaintext is not UTF-8 where text was expected.
    case notText(context: String)

    public var description: String {
        switch self {
        case .unknownKey(let id, let context):
            "\(context) is encrypted with data key '\(id)', which CLAIMS_DATA_KEYS does not hold; add that key back to the keyring"
        case .notAuthentic(let id, let context):
            "\(context) does not decrypt with data key '\(id)': the key differs from the one that encrypted it, or the value was altered"
        case .malformed(let context): "\(context) is not an encrypted value"
        case .notText(let context): "\(context) decrypts to bytes that are not UTF-8"
        }
    }
}

/// How identifiers are shown to roles that may know a claim exists but not whom it concerns.
public enum IdentifierMask {
    /// `value` with all but its last four characters replaced by `*` (all of it when it is
    /// four characters or shorter).
    public static func lastFour(_ value: String) -> String {
        let count = value.count
        guard count > 4 else { return String(repeating: "*", count: count) }
        return String(repeating: "*", count: count - 4) + value.suffix(4)
    }
}
