public import Crypto
import FoundationEssentials

/// The keys that protect member identifiers and names at rest, each with a key id.
///
/// A keyring holds AES-256-GCM *data keys* and one HMAC-SHA256 *index key*, one per line:
///
/// ```
/// data 2026-12 <32 bytes, base64url>
/// data 2026-06 <32 bytes, base64url>
/// index blind-1 <32 bytes, base64url>
/// ```
///
/// The first data key encrypts; every data key decrypts. The index key makes the blind index
/// that equality lookups use; it is never rotated (a new one would need every index rebuilt).
/// Blank lines and lines starting with `#` are ignored; `;` also ends a line, so a keyring fits
/// in one environment value. Problems are reported by line, counting both kinds of line end.
public struct DataKeyring: Sendable {
    /// One key and its id.
    public struct Key: Sendable {
        /// The id stored beside every value the key encrypted (1–64 letters, digits, `-_.`).
        public let id: String
        let key: SymmetricKey

        init(id: String, key: SymmetricKey) {
            self.id = id
            self.key = key
        }

        /// The key's bytes, base64url, as a keyring holds them.
        var encoded: String { key.withUnsafeBytes { Self.base64URL(Array($0)) } }

        static func base64URL(_ bytes: [UInt8]) -> String {
            let standard = Data(bytes).base64EncodedString()
            return String(standard.compactMap { character in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            })
        }

        static func bytes(base64URL text: Substring) -> [UInt8]? {
            guard !text.contains("=") else { return nil }
            var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            while standard.utf8.count % 4 != 0 { standard += "=" }
            return Data(base64Encoded: standard).map { Array($0) }
        }
    }

    /// The data keys, the encrypting key first.
    public let dataKeys: [Key]
    /// The blind index's key.
    public let indexKey: Key

    /// The key that encrypts new values.
    public var encryptingKey: Key { dataKeys[0] }

    init(dataKeys: [Key], indexKey: Key) {
        self.dataKeys = dataKeys
        self.indexKey = indexKey
    }

    /// A keyring of one new data key and one new index key.
    public static func generate(dataKeyID: String, indexKeyID: String) -> DataKeyring {
        DataKeyring(dataKeys: [Key(id: dataKeyID, key: SymmetricKey(size: .bits256))], indexKey: Key(id: indexKeyID, key: SymmetricKey(size: .bits256)))
    }

    /// This keyring with a new data key, which encrypts from now on; the others still decrypt.
    public func addingDataKey(id: String) throws(DataKeyringError) -> DataKeyring {
        guard Self.isValidKeyID(id) else { throw .malformedKeyID(line: 0) }
        guard !dataKeys.contains(where: { $0.id == id }) && indexKey.id != id else { throw .duplicateKeyID(id) }
        return DataKeyring(dataKeys: [Key(id: id, key: SymmetricKey(size: .bits256))] + dataKeys, indexKey: indexKey)
    }

    /// This keyring without the data key `id` (once no value is encrypted with it).
    public func removingDataKey(id: String) throws(DataKeyringError) -> DataKeyring {
        guard dataKeys.contains(where: { $0.id == id }) else { throw .unknownKeyID(id) }
        guard dataKeys.count > 1 else { throw .noDataKey }
        return DataKeyring(dataKeys: dataKeys.filter { $0.id != id }, indexKey: indexKey)
    }

    /// Reads a keyring's text; every problem names its line.
    public init(text: String) throws(DataKeyringError) {
        var dataKeys: [Key] = []
        var indexKey: Key?
        var seen: Set<String> = []
        // Comments first (they may hold ';'), then each ';' ends a line too; lines are numbered
        // as ';' and newlines divide them.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" }
            .filter { !$0.drop { $0 == " " || $0 == "\t" }.hasPrefix("#") }
            .flatMap { $0.split(separator: ";", omittingEmptySubsequences: false) }
        for (offset, rawLine) in lines.enumerated() {
            let number = offset + 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            guard !line.isEmpty else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3, fields[0] == "data" || fields[0] == "index" else { throw .malformedLine(number) }
            let id = String(fields[1])
            guard Self.isValidKeyID(id) else { throw .malformedKeyID(line: number) }
            guard seen.insert(id).inserted else { throw .duplicateKeyID(id) }
            guard let bytes = Key.bytes(base64URL: fields[2]), bytes.count == 32 else { throw .unusableKey(id: id, line: number) }
            let key = Key(id: id, key: SymmetricKey(data: bytes))
            if fields[0] == "data" {
                dataKeys.append(key)
            } else {
                guard indexKey == nil else { throw .secondIndexKey(line: number) }
                indexKey = key
            }
        }
        guard !dataKeys.isEmpty else { throw .noDataKey }
        guard let indexKey else { throw .noIndexKey }
        self.dataKeys = dataKeys
        self.indexKey = indexKey
    }

    /// The keyring as a file holds it, with a comment saying how it is read.
    public var text: String {
        var text = "# claimsd data keys: the first 'data' key encrypts and every one decrypts. The 'index' key never changes.\n"
        for key in dataKeys { text += "data \(key.id) \(key.encoded)\n" }
        text += "index \(indexKey.id) \(indexKey.encoded)\n"
        return text
    }

    static func isValidKeyID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F || byte == 0x2E
            }
    }
}

/// Why a keyring cannot be used; start-up stops with it.
public enum DataKeyringError: Error, Sendable, Equatable, CustomStringConvertible {
    case noDataKey
    case noIndexKey
    case malformedLine(Int)
    case malformedKeyID(line: Int)
    case duplicateKeyID(String)
    case unusableKey(id: String, line: Int)
    case secondIndexKey(line: Int)
    case unknownKeyID(String)

    public var description: String {
        switch self {
        case .noDataKey: "the keyring holds no data key; write lines 'data <key id> <32 bytes, base64url>' ('claimsd keys generate' prints a keyring)"
        case .noIndexKey: "the keyring holds no index key; add one line 'index <key id> <32 bytes, base64url>' (the one the database was set up with)"
        case .malformedLine(let line): "line \(line) is not 'data <key id> <key>' or 'index <key id> <key>'"
        case .malformedKeyID(let line): "line \(line): a key id is 1–64 characters of letters, digits, '-', '_' and '.'"
        case .duplicateKeyID(let id): "the key id '\(id)' appears twice"
        case .unusableKey(let id, let line): "line \(line): key '\(id)' is not 32 bytes in base64url"
        case .secondIndexKey(let line): "line \(line): a keyring has exactly one index key"
        case .unknownKeyID(let id): "the keyring has no data key '\(id)'"
        }
    }
}
