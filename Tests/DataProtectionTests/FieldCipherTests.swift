import DataProtection
import Testing

@Suite struct FieldCipherTests {
    let keyring = DataKeyring.generate(dataKeyID: "k1", indexKeyID: "i1")

    @Test func aSealedValueOpensOnlyInItsContext() throws {
        let cipher = FieldCipher(keyring: keyring)
        let sealed = cipher.seal("SUB-123456", context: "claim_lines.subscriber_id/a/1")
        #expect(try cipher.openString(sealed, context: "claim_lines.subscriber_id/a/1") == "SUB-123456")
        #expect(FieldCipher.keyID(of: sealed) == "k1")
        // Not the plaintext, and a fresh nonce each time.
        #expect(!String(decoding: sealed, as: UTF8.self).contains("SUB-123456"))
        #expect(cipher.seal("SUB-123456", context: "claim_lines.subscriber_id/a/1") != sealed)
        // Moved to another row, it does not open.
        #expect(throws: FieldCipherError.notAuthentic(id: "k1", context: "claim_lines.subscriber_id/a/2")) {
            try cipher.open(sealed, context: "claim_lines.subscriber_id/a/2")
        }
    }

    @Test func everyAlteredByteIsDetected() throws {
        let cipher = FieldCipher(keyring: keyring)
        let sealed = cipher.seal("M-42", context: "c")
        // The key id's bytes change which key is asked for; every other byte fails authentication.
        for index in (2 + "k1".utf8.count)..<sealed.count {
            var altered = sealed
            altered[index] ^= 0x01
            #expect(throws: FieldCipherError.notAuthentic(id: "k1", context: "c")) { try cipher.open(altered, context: "c") }
        }
        #expect(throws: FieldCipherError.malformed(context: "c")) { try cipher.open([7, 1, 65], context: "c") }
        #expect(throws: FieldCipherError.malformed(context: "c")) { try cipher.open(Array(sealed.prefix(10)), context: "c") }
    }

    @Test func olderKeysDecryptAndTheFirstEncrypts() throws {
        let old = FieldCipher(keyring: keyring)
        let sealedByOld = old.seal("A", context: "c")
        let rotated = try keyring.addingDataKey(id: "k2")
        let cipher = FieldCipher(keyring: rotated)
        #expect(cipher.encryptingKeyID == "k2")
        #expect(try cipher.openString(sealedByOld, context: "c") == "A")
        #expect(FieldCipher.keyID(of: cipher.seal("A", context: "c")) == "k2")
        // Without the old key, its values are refused with a message naming it.
        let withoutOld = FieldCipher(keyring: try rotated.removingDataKey(id: "k1"))
        #expect(throws: FieldCipherError.unknownKey(id: "k1", context: "c")) { try withoutOld.open(sealedByOld, context: "c") }
        // The index key stays: blind indexes still match.
        #expect(withoutOld.blindIndex("A") == old.blindIndex("A"))
    }

    @Test func theBlindIndexIsKeyedAndDeterministic() {
        let cipher = FieldCipher(keyring: keyring)
        let other = FieldCipher(keyring: DataKeyring.generate(dataKeyID: "k1", indexKeyID: "i1"))
        #expect(cipher.blindIndex("SUB-1") == cipher.blindIndex("SUB-1"))
        #expect(cipher.blindIndex("SUB-1") != cipher.blindIndex("SUB-2"))
        #expect(cipher.blindIndex("SUB-1") != other.blindIndex("SUB-1"))
        #expect(cipher.blindIndex("SUB-1").count == 32)
    }

    @Test func aKeyringReadsBackWhatItWrites() throws {
        let rotated = try keyring.addingDataKey(id: "k2")
        let read = try DataKeyring(text: rotated.text)
        #expect(read.dataKeys.map(\.id) == ["k2", "k1"])
        #expect(read.indexKey.id == "i1")
        let sealed = FieldCipher(keyring: rotated).seal("x", context: "c")
        #expect(try FieldCipher(keyring: read).openString(sealed, context: "c") == "x")
        // One environment value: ';' ends lines.
        let inline = rotated.text.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "; ")
        #expect(try DataKeyring(text: inline).dataKeys.map(\.id) == ["k2", "k1"])
    }

    @Test func badKeyringsAreRefusedNamingTheLine() {
        let key = "data k1 " + String(repeating: "A", count: 43)
        let index = "index i1 " + String(repeating: "B", count: 43)
        #expect(throws: DataKeyringError.noIndexKey) { try DataKeyring(text: key) }
        #expect(throws: DataKeyringError.noDataKey) { try DataKeyring(text: index) }
        #expect(throws: DataKeyringError.duplicateKeyID("k1")) { try DataKeyring(text: "\(key)\n\(key)\n\(index)") }
        #expect(throws: DataKeyringError.unusableKey(id: "k2", line: 2)) { try DataKeyring(text: "\(key)\ndata k2 QUJD\n\(index)") }
        #expect(throws: DataKeyringError.malformedLine(1)) { try DataKeyring(text: "secret k1 AAAA\n\(index)") }
        #expect(throws: DataKeyringError.malformedKeyID(line: 1)) { try DataKeyring(text: "data k/1 \(String(repeating: "A", count: 43))\n\(index)") }
        #expect(throws: DataKeyringError.secondIndexKey(line: 3)) { try DataKeyring(text: "\(key)\n\(index)\nindex i2 \(String(repeating: "C", count: 43))") }
        // Messages say what to write, never a key.
        #expect(DataKeyringError.unusableKey(id: "k2", line: 2).description.contains("32 bytes"))
    }

    @Test func masksShowTheLastFourCharacters() {
        #expect(IdentifierMask.lastFour("SUB-123456") == "******3456")
        #expect(IdentifierMask.lastFour("ABCD") == "****")
        #expect(IdentifierMask.lastFour("") == "")
        #expect(IdentifierMask.lastFour("Jane Doe") == "**** Doe")
    }
}
