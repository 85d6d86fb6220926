import Digests
import Testing

@Suite struct DigestsTests {
    @Test func sha256MatchesTheStandardVectors() {
        // FIPS 180-4's one-block and two-block examples, and the empty message.
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // The long-message vector: one million "a"s.
        #expect(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func digestsFedInPiecesEqualTheWholeMessage() {
        // Pieces of every size around the 64-byte block and the 56-byte padding boundary.
        let message = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1_000] {
            let whole = SHA256.digest(message[0..<length])
            for piece in [1, 7, 63, 64, 65, 200] {
                var hasher = SHA256.Hasher()
                for start in stride(from: 0, to: length, by: piece) { hasher.update(message[start..<min(start + piece, length)]) }
                #expect(hasher.finalize() == whole, "length \(length), pieces of \(piece)")
            }
        }
        #expect(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 55)) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
    }

    @Test func hmacMatchesRFC4231() {
        #expect(HMACSHA256.hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than the block is hashed first (test case 6).
        #expect(
            HMACSHA256.hex(key: Array(repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func fnv1aMatchesItsPublishedOffsetAndVectors() {
        // The 64-bit offset basis is the hash of nothing; "a" and "foobar" are from the FNV test suite.
        #expect(fnv1a64Hex([UInt8]()) == "cbf29ce484222325")
        #expect(fnv1a64Hex("a".utf8) == "af63dc4c8601ec8c")
        #expect(fnv1a64Hex("foobar".utf8) == "85944171f73967e8")
    }
}
