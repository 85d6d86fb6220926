import JWTKit

/// The signing keys of access tokens, each with a key id (`kid`), read from a keyring file.
///
/// A keyring file has one key per line, `<kid> <private key>`, the key being the 32-byte Ed25519
/// seed in base64url; blank lines and lines starting with `#` are ignored. The first key signs new
/// tokens; every key verifies. To rotate: put a new key first, keep the old one below it for at
/// least a token lifetime, then remove it. Nobody is logged out.
public struct TokenKeyring: Sendable {
    /// One Ed25519 key and its id.
    public struct Key: Sendable {
        public let kid: String
        let privateKey: EdDSA.PrivateKey

        /// The public half, base64url (a JWK's `x`).
        public var publicX: String { Base64URL.encode(Array(privateKey.publicKey.rawRepresentation)) }
        /// The private seed, base64url, as a keyring file holds it.
        public var privateD: String { Base64URL.encode(Array(privateKey.rawRepresentation)) }
    }

    /// All keys, the signing key first.
    public let keys: [Key]

    /// A keyring of one newly generated key.
    public static func generate(kid: String) throws(KeyringError) -> TokenKeyring {
        do {
            return TokenKeyring(keys: [Key(kid: kid, privateKey: try EdDSA.PrivateKey(curve: .ed25519))])
        } catch {
            throw .unusableKey(kid: kid, line: 0)
        }
    }

    init(keys: [Key]) {
        self.keys = keys
    }

    /// Reads a keyring file's text; every problem names its line.
    public init(text: String) throws(KeyringError) {
        var keys: [Key] = []
        var seen: Set<String> = []
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingASCIISpaces
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2 else { throw .malformedLine(offset + 1) }
            let kid = String(fields[0])
            guard kid.count <= 64, kid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw .malformedKeyID(line: offset + 1)
            }
            guard seen.insert(kid).inserted else { throw .duplicateKeyID(kid) }
            guard let seed = Base64URL.decode(String(fields[1])), seed.count == 32 else { throw .unusableKey(kid: kid, line: offset + 1) }
            do {
                keys.append(Key(kid: kid, privateKey: try EdDSA.PrivateKey(d: String(fields[1]), curve: .ed25519)))
            } catch {
                throw .unusableKey(kid: kid, line: offset + 1)
            }
        }
        guard !keys.isEmpty else { throw .empty }
        self.keys = keys
    }

    /// The keyring as a file holds it.
    public var text: String {
        keys.map { "\($0.kid) \($0.privateD)\n" }.joined()
    }

    /// The public keys as a JSON Web Key Set (RFC 7517), for `/.well-known/jwks.json`.
    public var jwksJSON: String {
        let entries = keys.map { #"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"\#($0.kid)","x":"\#($0.publicX)"}"# }
        return #"{"keys":["# + entries.joined(separator: ",") + "]}"
    }
}

/// Why a keyring cannot be used; start-up stops with it.
public enum KeyringError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case malformedLine(Int)
    case malformedKeyID(line: Int)
    case duplicateKeyID(String)
    case unusableKey(kid: String, line: Int)

    public var description: String {
        switch self {
        case .empty: "the keyring holds no key; write lines '<kid> <ed25519 seed, base64url>' (claimsd jwt-keys generate prints one)"
        case .malformedLine(let line): "line \(line) is not '<kid> <ed25519 seed, base64url>'"
        case .malformedKeyID(let line): "line \(line): a key id is 1–64 characters of letters, digits, '-', '_' and '.'"
        case .duplicateKeyID(let kid): "the key id '\(kid)' appears twice"
        case .unusableKey(let kid, let line): "line \(line): key '\(kid)' is not a 32-byte Ed25519 seed in base64url"
        }
    }
}

/// How access tokens are made and checked.
public struct TokenSettings: Sendable {
    /// `iss` of new tokens; tokens with another issuer are refused.
    public var issuer: String
    /// `aud` of new tokens; tokens for another audience are refused.
    public var audience: String
    /// How long a new token lives (15 minutes by default).
    public var lifetimeSeconds: Int64
    /// How far clocks may disagree: a token is accepted this long after `exp` and before `iat`.
    public var leewaySeconds: Int64

    public init(issuer: String = "claimsd", audience: String = "claimsd", lifetimeSeconds: Int64 = 900, leewaySeconds: Int64 = 30) {
        self.issuer = issuer
        self.audience = audience
        self.lifetimeSeconds = lifetimeSeconds
        self.leewaySeconds = leewaySeconds
    }
}

/// A newly signed access token.
public struct IssuedAccessToken: Sendable {
    public let token: String
    public let expiresIn: Int64
    public let jti: String
}

/// A verified access token's claims.
public struct VerifiedAccessToken: Sendable {
    public let principal: Principal
    public let jti: String
    public let expiresAt: Int64
}

/// Signs and verifies access tokens: EdDSA (Ed25519) JWTs with `sub`, `role`, `scope`, `iat`,
/// `exp`, `jti`, `iss` and `aud`. Time is passed in, in seconds since 1970.
public struct AccessTokens: Sendable {
    let collection: JWTKeyCollection
    let signingKID: String
    let keyIDs: Set<String>
    /// The keys' public halves, for the JWKS.
    public let keyring: TokenKeyring
    public let settings: TokenSettings

    public init(keyring: TokenKeyring, settings: TokenSettings = TokenSettings()) async {
        let collection = JWTKeyCollection()
        for key in keyring.keys {
            await collection.add(eddsa: key.privateKey, kid: JWKIdentifier(string: key.kid))
        }
        self.collection = collection
        self.signingKID = keyring.keys[0].kid
        self.keyIDs = Set(keyring.keys.map(\.kid))
        self.keyring = keyring
        self.settings = settings
    }

    /// A token for the user `userID` with `role` and `scope`, issued at `now`.
    public func issue(userID: String, role: Role, scope: Scope, now: Int64) async throws(TokenError) -> IssuedAccessToken {
        var generator = SystemRandomNumberGenerator()
        let jti = RandomText.base64URL(byteCount: 16, using: &generator)
        let payload = AccessTokenPayload(
            sub: userID, role: role.rawValue, scope: scope.tokenValue, iat: now, exp: now + settings.lifetimeSeconds, jti: jti,
            iss: settings.issuer, aud: settings.audience)
        do {
            let token = try await collection.sign(payload, kid: JWKIdentifier(string: signingKID))
            return IssuedAccessToken(token: token, expiresIn: settings.lifetimeSeconds, jti: jti)
        } catch {
            throw .signingFailed("\(error)")
        }
    }

    /// The principal `token` speaks for, if its signature, issuer, audience and times hold at `now`.
    public func verify(_ token: String, now: Int64) async throws(TokenError) -> VerifiedAccessToken {
        guard token.utf8.count <= 4096 else { throw .malformed }
        // jwt-kit verifies a token naming an unknown key with its default key; say it plainly.
        let header: JWTHeader
        do {
            header = try DefaultJWTParser().parse(Array(token.utf8), as: AccessTokenPayload.self).header
        } catch {
            throw .malformed
        }
        guard let kid = header.kid, keyIDs.contains(kid) else { throw .unknownKey }
        guard header.alg == "EdDSA" else { throw .malformed }
        let payload: AccessTokenPayload
        do {
            payload = try await collection.verify(token, as: AccessTokenPayload.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .unknownKID, .missingKIDHeader: throw .unknownKey
            case .signatureVerificationFailed: throw .badSignature
            default: throw .malformed
            }
        } catch {
            throw .malformed
        }
        guard payload.iss == settings.issuer else { throw .wrongIssuer }
        guard payload.aud == settings.audience else { throw .wrongAudience }
        guard now <= payload.exp + settings.leewaySeconds else { throw .expired }
        guard payload.iat <= now + settings.leewaySeconds else { throw .notYetValid }
        guard let role = Role(rawValue: payload.role), let scope = Scope(tokenValue: payload.scope) else { throw .malformed }
        return VerifiedAccessToken(principal: Principal(id: "user:" + payload.sub, kind: .user, role: role, scope: scope), jti: payload.jti, expiresAt: payload.exp)
    }
}

/// Why an access token was refused. Every case is a 401; the message says which.
public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed
    case unknownKey
    case badSignature
    case wrongIssuer
    case wrongAudience
    case expired
    case notYetValid
    case signingFailed(String)

    public var description: String {
        switch self {
        case .malformed: "the access token is not a token this service issued"
        case .unknownKey: "the access token was signed with a key this service does not know (log in again)"
        case .badSignature: "the access token's signature does not verify"
        case .wrongIssuer: "the access token was issued by another issuer"
        case .wrongAudience: "the access token is meant for another audience"
        case .expired: "the access token has expired; get a new one from /api/v1/refresh"
        case .notYetValid: "the access token is issued in the future; check the clocks"
        case .signingFailed(let reason): "an access token could not be signed: \(reason)"
        }
    }
}

/// The claims of claimsd's access tokens.
struct AccessTokenPayload: JWTPayload {
    let sub: String
    let role: String
    let scope: String
    let iat: Int64
    let exp: Int64
    let jti: String
    let iss: String
    let aud: String

    /// Times, issuer and audience are checked by ``AccessTokens/verify(_:now:)`` against the
    /// time passed in, so nothing is checked here.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension Substring {
    var trimmingASCIISpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
