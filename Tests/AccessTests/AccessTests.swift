@testable import Access
import TestSupport
import Testing

@Suite struct AccessPolicyTests {
    @Test func theMatrixGivesEachRoleExactlyItsPermissions() {
        // Written out role by role, independently of the policy's switch by permission.
        let expected: [Role: Set<Permission>] = [
            .admin: Set(Permission.allCases),
            .provider: [.submitClaims, .readClaims, .changeClaims],
            .payer: [.readClaims, .readPaymentsFeed, .reportPayments, .readRanking],
            .member: [.readClaims],
            .auditor: [.readClaims, .readPaymentsFeed, .readRanking, .readMonitoring, .readAccounts, .readAudit],
            .metrics: [.readMonitoring],
        ]
        for role in Role.allCases {
            let held = Set(Permission.allCases.filter { AccessPolicy.allows(role, $0) })
            #expect(held == expected[role], "\(role)")
        }
    }

    @Test func decisionsDistinguishNoCredentialFromAMissingRole() {
        let member = Principal(id: "user:1", kind: .user, role: .member, scope: Scope(subscriberID: "S1"))
        #expect(AccessPolicy.decide(.open, for: nil) == .allowed)
        #expect(AccessPolicy.decide(.authenticated, for: nil) == .unauthenticated)
        #expect(AccessPolicy.decide(.authenticated, for: member) == .allowed)
        #expect(AccessPolicy.decide(.permission(.readClaims), for: nil) == .unauthenticated)
        #expect(AccessPolicy.decide(.permission(.readClaims), for: member) == .allowed)
        #expect(AccessPolicy.decide(.permission(.submitClaims), for: member) == .forbidden(role: .member, permission: .submitClaims))
    }

    @Test func providersSeeOnlyClaimsWhollyInTheirScope() {
        let provider = Principal(id: "api_key:a", kind: .apiKey, role: .provider, scope: Scope(npis: ["1111111112", "2222222224"]))
        let visibility = AccessPolicy.claimVisibility(for: provider)
        #expect(visibility == .providers(["1111111112", "2222222224"]))
        #expect(visibility.allows(providerNPIs: ["1111111112"], subscriberIDs: ["X"]))
        #expect(visibility.allows(providerNPIs: ["1111111112", "2222222224"], subscriberIDs: ["X"]))
        #expect(!visibility.allows(providerNPIs: ["1111111112", "3333333336"], subscriberIDs: ["X"]))
        #expect(!visibility.allows(providerNPIs: [], subscriberIDs: ["X"]))
        let unbound = Principal(id: "user:2", kind: .user, role: .provider, scope: .none)
        #expect(AccessPolicy.claimVisibility(for: unbound) == .nothing)
    }

    @Test func membersSeeTheirOwnSubscriberIDAndUnlinkedMembersNothing() {
        let member = Principal(id: "user:1", kind: .user, role: .member, scope: Scope(subscriberID: "S1"))
        #expect(AccessPolicy.claimVisibility(for: member).allows(providerNPIs: ["1"], subscriberIDs: ["S1"]))
        #expect(!AccessPolicy.claimVisibility(for: member).allows(providerNPIs: ["1"], subscriberIDs: ["S2"]))
        #expect(!AccessPolicy.claimVisibility(for: member).allows(providerNPIs: ["1"], subscriberIDs: ["S1", "S2"]))
        #expect(!AccessPolicy.claimVisibility(for: member).allows(providerNPIs: ["1"], subscriberIDs: []))
        let unlinked = Principal(id: "user:3", kind: .user, role: .member, scope: .none)
        #expect(AccessPolicy.claimVisibility(for: unlinked) == .nothing)
        let metrics = Principal(id: "api_key:m", kind: .apiKey, role: .metrics, scope: .none)
        #expect(AccessPolicy.claimVisibility(for: metrics) == .nothing)
        for role in [Role.admin, .payer, .auditor] {
            #expect(AccessPolicy.claimVisibility(for: Principal(id: "x", kind: .apiKey, role: role, scope: .none)) == .all)
        }
    }

    @Test func scopesRoundTripThroughTheTokenForm() {
        let scope = Scope(npis: ["2222222224", "1111111112", "1111111112"], subscriberID: "ABC-1")
        #expect(scope.npis == ["1111111112", "2222222224"])
        #expect(scope.tokenValue == "npi:1111111112 npi:2222222224 subscriber:ABC-1")
        #expect(Scope(tokenValue: scope.tokenValue) == scope)
        #expect(Scope(tokenValue: "") == Scope.none)
        #expect(Scope(tokenValue: "admin:everything") == nil)
    }
}

@Suite struct CredentialTests {
    @Test func bearerValuesAreAPIKeysOrTokens() throws {
        let (id, secret, key) = APIKey.generate()
        #expect(try Credential.from(authorization: "Bearer \(key)", apiKeyHeader: nil) == .apiKey(id: id, secret: secret))
        #expect(try Credential.from(authorization: "bearer   \(key)  ", apiKeyHeader: nil) == .apiKey(id: id, secret: secret))
        #expect(try Credential.from(authorization: nil, apiKeyHeader: key) == .apiKey(id: id, secret: secret))
        #expect(try Credential.from(authorization: "Bearer eyJ.abc.def", apiKeyHeader: nil) == .accessToken("eyJ.abc.def"))
        #expect(try Credential.from(authorization: nil, apiKeyHeader: nil) == nil)
        // Authorization wins over X-API-Key when both are sent.
        #expect(try Credential.from(authorization: "Bearer tok", apiKeyHeader: key) == .accessToken("tok"))
        #expect(try Credential.from(authorization: "BEARER \(key)", apiKeyHeader: nil) == .apiKey(id: id, secret: secret))
        // Not the key's shape (id in capitals, id one short, secret too short, a stray character):
        // sent as a bearer value it is taken for an access token, which then fails to verify.
        for almost in ["ck_\(id.uppercased())_\(secret)", "ck_\(id.dropLast())_\(secret)", "ck_\(id)_\(secret.prefix(31))", "ck_\(id)_\(secret)!"] {
            #expect(APIKey.parse(almost) == nil, "\(almost)")
            #expect(try Credential.from(authorization: "Bearer \(almost)", apiKeyHeader: nil) == .accessToken(almost))
        }
    }

    @Test func malformedHeadersSayWhatIsWrong() {
        #expect(throws: CredentialError.unsupportedScheme("Basic")) { try Credential.from(authorization: "Basic dXNlcjpwYXNz", apiKeyHeader: nil) }
        #expect(throws: CredentialError.unsupportedScheme("Bearex")) { try Credential.from(authorization: "  Bearex tok", apiKeyHeader: nil) }
        #expect(throws: CredentialError.malformedAuthorization) { try Credential.from(authorization: "Bearer", apiKeyHeader: nil) }
        #expect(throws: CredentialError.malformedAuthorization) { try Credential.from(authorization: "Bearer    ", apiKeyHeader: nil) }
        #expect(throws: CredentialError.malformedAPIKey) { try Credential.from(authorization: nil, apiKeyHeader: "secret") }
        #expect(throws: CredentialError.malformedAPIKey) { try Credential.from(authorization: nil, apiKeyHeader: "ck_short_x") }
    }

    @Test func apiKeysAreUniqueAndStoredOnlyAsAHash() {
        var ids: Set<String> = []
        for _ in 0..<200 {
            let (id, secret, key) = APIKey.generate()
            #expect(ids.insert(id).inserted)
            #expect(key == "ck_\(id)_\(secret)")
            #expect(APIKey.parse(key)?.id == id)
            #expect(APIKey.parse(key)?.secret == secret)
            let hash = APIKey.hash(secret: secret)
            #expect(hash.count == 64 && !hash.contains(secret))
            #expect(constantTimeEquals(hash, APIKey.hash(secret: secret)))
            #expect(!constantTimeEquals(hash, APIKey.hash(secret: secret + "x")))
        }
        #expect(RefreshToken.generate() != RefreshToken.generate())
        #expect(RefreshToken.generate().count == 46)
    }

    @Test func base64URLMatchesRFC4648AndRoundTrips() {
        // RFC 4648 §10's vectors, written without padding, in the URL-safe alphabet.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("Zg==") == Array("f".utf8))
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("Zm9v+") == nil)
        var random = SplitMix.forTest("base64URLRoundTrip", variable: "CLAIMS_TEST_BASE64_SEED")
        for _ in 0..<300 {
            let bytes = (0..<random.next(upTo: 70)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }
}

@Suite struct PasswordTests {
    @Test func hashesVerifyTheirPasswordAndNothingElse() {
        let hasher = PasswordHasher(cost: 4)
        let hash = hasher.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$2b$04$"))
        #expect(hasher.verify("correct horse battery staple", hash: hash))
        #expect(!hasher.verify("correct horse battery stapler", hash: hash))
        #expect(!hasher.verify("correct horse battery staple", hash: "plain text"))
        // The cost comes from the stored hash, not from the hasher.
        #expect(PasswordHasher(cost: 12).verify("correct horse battery staple", hash: hash))
    }

    @Test func rulesRefuseShortLongAndNULPasswords() {
        #expect(PasswordRules.problems("twelve chars").isEmpty)
        #expect(PasswordRules.problems("short").count == 1)
        #expect(PasswordRules.problems(String(repeating: "é", count: 37)).count == 1)
        #expect(PasswordRules.problems(String(repeating: "a", count: 20) + "\u{0}").count == 1)
    }
}

@Suite struct AccessTokenTests {
    static let now: Int64 = 1_790_000_000

    @Test func aTokenCarriesItsPrincipalAndExpires() async throws {
        let tokens = await AccessTokens(keyring: try TokenKeyring.generate(kid: "k1"))
        let issued = try await tokens.issue(userID: "u-1", role: .provider, scope: Scope(npis: ["1111111112"]), now: Self.now)
        #expect(issued.expiresIn == 900)
        let verified = try await tokens.verify(issued.token, now: Self.now + 10)
        #expect(verified.principal == Principal(id: "user:u-1", kind: .user, role: .provider, scope: Scope(npis: ["1111111112"])))
        #expect(verified.jti == issued.jti)
        #expect(verified.expiresAt == Self.now + 900)
        // Clock skew: accepted up to the leeway past expiry and before issue, refused after.
        _ = try await tokens.verify(issued.token, now: Self.now + 900 + 30)
        await #expect(throws: TokenError.expired) { try await tokens.verify(issued.token, now: Self.now + 900 + 31) }
        _ = try await tokens.verify(issued.token, now: Self.now - 30)
        await #expect(throws: TokenError.notYetValid) { try await tokens.verify(issued.token, now: Self.now - 31) }
    }

    @Test func tokensOfOtherKeysIssuersAndAudiencesAreRefused() async throws {
        let ours = await AccessTokens(keyring: try TokenKeyring.generate(kid: "k1"))
        let stranger = await AccessTokens(keyring: try TokenKeyring.generate(kid: "k9"))
        let sameKidOtherKey = await AccessTokens(keyring: try TokenKeyring.generate(kid: "k1"))
        let otherAudience = await AccessTokens(keyring: ours.keyring, settings: TokenSettings(audience: "payments"))
        let otherIssuer = await AccessTokens(keyring: ours.keyring, settings: TokenSettings(issuer: "elsewhere"))
        func token(_ tokens: AccessTokens) async throws -> String {
            try await tokens.issue(userID: "u", role: .admin, scope: .none, now: Self.now).token
        }
        await #expect(throws: TokenError.unknownKey) { try await ours.verify(try await token(stranger), now: Self.now) }
        await #expect(throws: TokenError.badSignature) { try await ours.verify(try await token(sameKidOtherKey), now: Self.now) }
        await #expect(throws: TokenError.wrongAudience) { try await ours.verify(try await token(otherAudience), now: Self.now) }
        await #expect(throws: TokenError.wrongIssuer) { try await ours.verify(try await token(otherIssuer), now: Self.now) }
        await #expect(throws: TokenError.malformed) { try await ours.verify("not.a.token", now: Self.now) }
        // A token whose payload was edited (role raised) fails its signature.
        let parts = try await token(ours).split(separator: ".")
        let forged = parts[0] + "." + Base64URL.encode(Array(#"{"sub":"u","role":"admin","scope":"","iat":1,"exp":9999999999,"jti":"j","iss":"claimsd","aud":"claimsd"}"#.utf8)) + "." + parts[2]
        await #expect(throws: TokenError.badSignature) { try await ours.verify(String(forged), now: Self.now) }
    }

    @Test func rotatingKeysKeepsEarlierTokensValid() async throws {
        let old = try TokenKeyring.generate(kid: "2026-11")
        let before = await AccessTokens(keyring: old)
        let earlier = try await before.issue(userID: "u", role: .member, scope: .none, now: Self.now).token
        let new = try TokenKeyring.generate(kid: "2026-12")
        let rotated = await AccessTokens(keyring: try TokenKeyring(text: new.text + old.text))
        // Old tokens still verify; new ones are signed with the new key.
        _ = try await rotated.verify(earlier, now: Self.now)
        let later = try await rotated.issue(userID: "u", role: .member, scope: .none, now: Self.now).token
        await #expect(throws: TokenError.unknownKey) { try await before.verify(later, now: Self.now) }
        // Once the old key is removed, its tokens stop working.
        let retired = await AccessTokens(keyring: new)
        await #expect(throws: TokenError.unknownKey) { try await retired.verify(earlier, now: Self.now) }
        #expect(rotated.keyring.jwksJSON.contains(#""kid":"2026-12""#) && rotated.keyring.jwksJSON.contains(#""kid":"2026-11""#))
        #expect(!rotated.keyring.jwksJSON.contains(new.keys[0].privateD))
    }

    @Test func keyringFilesAreReadStrictly() throws {
        let one = try TokenKeyring.generate(kid: "a")
        let text = "# claimsd access-token keys\n\n" + one.text + "  b \(try TokenKeyring.generate(kid: "b").keys[0].privateD)  \n"
        let keyring = try TokenKeyring(text: text)
        #expect(keyring.keys.map(\.kid) == ["a", "b"])
        #expect(keyring.keys[0].publicX == one.keys[0].publicX)
        #expect(throws: KeyringError.empty) { try TokenKeyring(text: "# nothing\n") }
        #expect(throws: KeyringError.malformedLine(1)) { try TokenKeyring(text: "a\n") }
        #expect(throws: KeyringError.duplicateKeyID("a")) { try TokenKeyring(text: one.text + one.text) }
        #expect(throws: KeyringError.unusableKey(kid: "c", line: 1)) { try TokenKeyring(text: "c AAAA\n") }
        #expect(throws: KeyringError.malformedKeyID(line: 1)) { try TokenKeyring(text: "c/d \(one.keys[0].privateD)\n") }
    }
}
