import Foundation

/// Works out which client a request comes from, for rate limiting: the peer's address, or —
/// when the peer is a trusted proxy — the nearest untrusted address in `X-Forwarded-For`.
public struct ClientAddress: Sendable {
    /// One trusted proxy: an IPv4 address or CIDR block, or an IPv6 address.
    struct Matcher: Sendable, Equatable {
        enum Form: Sendable, Equatable {
            case ipv4(network: UInt32, mask: UInt32)
            case exact(String)
        }

        let form: Form

        init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            if let address = Self.ipv4(parts[0]) {
                var bits = 32
                if parts.count == 2 {
                    guard let prefix = Int(parts[1]), (0...32).contains(prefix) else { return nil }
                    bits = prefix
                } else if parts.count > 2 {
                    return nil
                }
                let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
                form = .ipv4(network: address & mask, mask: mask)
            } else if parts.count == 1, text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
                form = .exact(text.lowercased())
            } else {
                return nil
            }
        }

        func matches(_ address: String) -> Bool {
            switch form {
            case .ipv4(let network, let mask):
                guard let value = Self.ipv4(Substring(address)) else { return false }
                return value & mask == network
            case .exact(let text):
                return address.lowercased() == text
            }
        }

        /// A dotted-quad IPv4 address as a number.
        static func ipv4(_ text: Substring) -> UInt32? {
            let octets = text.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4 else { return nil }
            var value: UInt32 = 0
            for octet in octets {
                guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isASCII), let number = UInt32(octet), number <= 255 else { return nil }
                value = value << 8 | number
            }
            return value
        }
    }

    let trustedProxies: [Matcher]

    /// `trustedProxies` must each be valid (checked when the configuration is loaded).
    public init(trustedProxies: [String]) {
        self.trustedProxies = trustedProxies.compactMap(Matcher.init)
    }

    /// The client's address. `forwardedFor` are the `X-Forwarded-For` header values in order.
    public func client(peer: String?, forwardedFor: [String]) -> String {
        guard let peer else { return "unknown" }
        guard isTrusted(peer), !forwardedFor.isEmpty else { return peer }
        let chain = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Each proxy appends the address it received from, so read from the right and stop at
        // the first address no trusted proxy vouches for.
        return chain.last(where: { !isTrusted($0) }) ?? chain.first ?? peer
    }

    func isTrusted(_ address: String) -> Bool {
        trustedProxies.contains { $0.matches(address) }
    }
}
