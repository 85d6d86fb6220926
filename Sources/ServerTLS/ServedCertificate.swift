import FoundationEssentials
public import NIOSSL
import Synchronization
import X509

/// The certificate chain and private key claimsd serves TLS with, read from two PEM files and
/// read again on demand (SIGHUP), without dropping a connection.
///
/// Every TLS handshake asks for the current pair (NIOSSL's context callback), so a reload takes
/// effect at the next connection. A reload that fails (a file missing, not PEM, or a key that
/// does not belong to the certificate) keeps the pair in use.
public final class ServedCertificate: Sendable {
    /// What a loaded pair is, for logs and metrics.
    public struct Summary: Sendable, Equatable {
        /// The leaf certificate's subject, as X.509 prints it.
        public let subject: String
        /// When the leaf certificate expires, in seconds since 1970.
        public let notAfter: Double
        /// Certificates in the chain, the leaf first.
        public let chainLength: Int
    }

    private struct Pair: Sendable {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let summary: Summary
    }

    public let certificatePath: String
    public let keyPath: String
    private let current: Mutex<Pair>

    /// Reads the pair; throws when it cannot be served.
    public init(certificatePath: String, keyPath: String) throws(TLSSetupError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.current = Mutex(try Self.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// The pair in use.
    public var summary: Summary { current.withLock { $0.summary } }

    /// Reads both files again and serves them from the next handshake on; on failure the pair in
    /// use stays.
    @discardableResult
    public func reload() throws(TLSSetupError) -> Summary {
        let pair = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        current.withLock { $0 = pair }
        return pair.summary
    }

    /// A server configuration of TLS 1.2 and later that serves the current pair.
    public var serverConfiguration: TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in
            let pair = current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    private static func load(certificatePath: String, keyPath: String) throws(TLSSetupError) -> Pair {
        let certificateText = try read(certificatePath, what: "certificate")
        let keyText = try read(keyPath, what: "private key")
        let chain: [NIOSSLCertificate]
        let leaf: Certificate
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateText.utf8))
            guard let first = chain.first else { throw TLSSetupError.unreadable(path: certificatePath, problem: "holds no PEM certificate") }
            leaf = try Certificate(derEncoded: try first.toDERBytes())
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw .unreadable(path: certificatePath, problem: "is not a PEM certificate chain (\(error))")
        }
        let key: NIOSSLPrivateKey
        let x509Key: Certificate.PrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem)
            x509Key = try Certificate.PrivateKey(pemEncoded: keyText)
        } catch {
            throw .unreadable(path: keyPath, problem: "is not an unencrypted PEM private key (\(error))")
        }
        guard x509Key.publicKey == leaf.publicKey else { throw .keyMismatch(certificatePath: certificatePath, keyPath: keyPath) }
        let summary = Summary(subject: String(describing: leaf.subject), notAfter: leaf.notValidAfter.timeIntervalSince1970, chainLength: chain.count)
        return Pair(chain: chain, key: key, summary: summary)
    }

    private static func read(_ path: String, what: String) throws(TLSSetupError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, problem: "cannot be read (the \(what))") }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadable(path: path, problem: "is not PEM text (the \(what))") }
        return text
    }
}

/// Why TLS cannot be served with the configured files.
public enum TLSSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, problem: String)
    case keyMismatch(certificatePath: String, keyPath: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let problem): "\(path) \(problem)"
        case .keyMismatch(let certificatePath, let keyPath): "the private key \(keyPath) does not belong to the certificate \(certificatePath)"
        }
    }
}
