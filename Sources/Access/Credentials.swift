import Digests

/// A credential as a request presents it, before anything is looked up.
public enum Credential: Sendable, Equatable {
    /// An API key `ck_<id>_<secret>`, split into its parts.
    case apiKey(id: String, secret: String)
    /// Anything else sent as a bearer token: an access token (JWT) to verify.
    case accessToken(String)

    /// The credential in an `Authorization: Bearer …` value or an `X-API-Key` value; `nil` when
    /// neither header carries one. A malformed `Authorization` header (another scheme, no token)
    /// is ``CredentialError``, so the caller can say what was wrong.
    public static func from(authorization: String?, apiKeyHeader: String?) throws(CredentialError) -> Credential? {
        if let authorization {
            // Bytes, not Characters: this runs on every request, and a JWT is ~400 characters.
            let bytes = authorization.utf8
            let space = UInt8(ascii: " ")
            guard let schemeStart = bytes.firstIndex(where: { $0 != space }) else { throw .malformedAuthorization }
            guard let schemeEnd = bytes[schemeStart...].firstIndex(of: space) else { throw .malformedAuthorization }
            let scheme = bytes[schemeStart..<schemeEnd]
            guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else {
                throw .unsupportedScheme(String(authorization[schemeStart..<schemeEnd].prefix(20)))
            }
            guard let tokenStart = bytes[schemeEnd...].firstIndex(where: { $0 != space }),
                let tokenLast = bytes[tokenStart...].lastIndex(where: { $0 != space })
            else { throw .malformedAuthorization }
            let token = authorization[tokenStart...tokenLast]
            return APIKey.parse(token).map { .apiKey(id: $0.id, secret: $0.secret) } ?? .accessToken(String(token))
        }
        if let apiKeyHeader {
            guard let key = APIKey.parse(Substring(apiKeyHeader)) else { throw .malformedAPIKey }
            return .apiKey(id: key.id, secret: key.secret)
        }
        return nil
    }
}

/// Why a presented credential could not even be read.
public enum CredentialError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedAuthorization
    case unsupportedScheme(String)
    case malformedAPIKey

    public var description: String {
        switch self {
        case .malformedAuthorization: "the Authorization header must be 'Bearer <token or API key>'"
        case .unsupportedScheme(let scheme): "the Authorization scheme '\(scheme)' is not supported; send 'Bearer <token or API key>'"
        case .malformedAPIKey: "the X-API-Key header is not an API key of the form ck_<id>_<secret>"
        }
    }
}

/// API keys: `ck_<id>_<secret>`, shown once when made, stored only as a SHA-256 of the secret.
///
/// The secret is 256 random bits, so a fast hash is as safe as a slow one and costs a request
/// nothing measurable; the id finds the row without scanning.
public enum APIKey {
    /// A new key's id (12 characters of base32) and secret (43 characters of base64url).
    public static func generate() -> (id: String, secret: String, key: String) {
        var generator = SystemRandomNumberGenerator()
        let id = String(RandomText.base32(count: 12, using: &generator))
        let secret = RandomText.base64URL(byteCount: 32, using: &generator)
        return (id, secret, "ck_\(id)_\(secret)")
    }

    /// The parts of `text` when it has the key's shape, else `nil`.
    public static func parse(_ text: some StringProtocol) -> (id: String, secret: String)? {
        let bytes = Array(text.utf8)
        // "ck_", 12 characters of id, "_", 32–128 characters of secret.
        guard (48...144).contains(bytes.count), bytes[0] == UInt8(ascii: "c"), bytes[1] == UInt8(ascii: "k"), bytes[2] == UInt8(ascii: "_"),
            bytes[15] == UInt8(ascii: "_"), bytes[3..<15].allSatisfy(RandomText.isBase32), bytes[16...].allSatisfy(RandomText.isBase64URL)
        else { return nil }
        return (String(decoding: bytes[3..<15], as: UTF8.self), String(decoding: bytes[16...], as: UTF8.self))
    }

    /// What is stored for a secret.
    public static func hash(secret: String) -> String { Digests.SHA256.hex(Array(secret.utf8)) }
}

/// Refresh tokens: opaque random values, stored only as a SHA-256.
public enum RefreshToken {
    /// A new token (43 characters of base64url: 256 bits).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return "rt_" + RandomText.base64URL(byteCount: 32, using: &generator)
    }

    /// What is stored for a token.
    public static func hash(_ token: String) -> String { Digests.SHA256.hex(Array(token.utf8)) }
}

/// Compares two digests in time that does not depend on where they first differ.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let left = Array(a.utf8)
    let right = Array(b.utf8)
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
}

/// Random text from a cryptographic generator (`SystemRandomNumberGenerator` reads the kernel's).
enum RandomText {
    static let base32Alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base32(count: Int, using generator: inout some RandomNumberGenerator) -> String {
        String(decoding: (0..<count).map { _ in base32Alphabet[Int(generator.next(upperBound: UInt8(32)))] }, as: UTF8.self)
    }

    static func base64URL(byteCount: Int, using generator: inout some RandomNumberGenerator) -> String {
        Base64URL.encode((0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func isBase32(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "2")...UInt8(ascii: "7"): true
        default: false
        }
    }

    static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as JWKs and tokens write bytes.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = RandomText.base64URLAlphabet
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`; `nil` when it is not base64url (padding is accepted).
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for byte in text.utf8 where byte != UInt8(ascii: "=") {
            guard let value = RandomText.base64URLAlphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(value))
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value: UInt32 = 0
            for (offset, sextet) in chunk.enumerated() { value |= UInt32(sextet) << UInt32(18 - 6 * offset) }
            let produced = chunk.count - 1
            for position in 0..<produced { out.append(UInt8(value >> UInt32(16 - 8 * position) & 0xFF)) }
            index += 4
        }
        return out
    }
}
