/// HTML text built up piece by piece, with every value escaped on the way in.
///
/// Literal markup goes in with ``raw(_:)``; anything that came from data (a label value, an
/// annotation, an error message) goes in with ``text(_:)`` or as an attribute value through
/// ``attribute(_:_:)``, so no value can open a tag or end an attribute.
public struct HTMLText: Sendable {
    /// The markup so far.
    public private(set) var html: String = ""

    public init() {}

    /// Appends markup as it is.
    public mutating func raw(_ markup: String) {
        html += markup
    }

    /// Appends `value` as text content.
    public mutating func text(_ value: String) {
        html += Self.escape(value)
    }

    /// Appends ` name="value"`, the value escaped.
    public mutating func attribute(_ name: String, _ value: String) {
        html += " " + name + "=\"" + Self.escape(value) + "\""
    }

    /// `<tag>value</tag>`, the value escaped.
    public mutating func element(_ tag: String, _ value: String, class className: String? = nil) {
        html += "<" + tag
        if let className { attribute("class", className) }
        html += ">" + Self.escape(value) + "</" + tag + ">"
    }

    /// `value` with `&`, `<`, `>`, `"` and `'` replaced by character references, safe in text
    /// and in a quoted attribute value.
    public static func escape(_ value: String) -> String {
        var needsEscaping = false
        for byte in value.utf8 where byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            needsEscaping = true
            break
        }
        guard needsEscaping else { return value }
        var result = ""
        result.reserveCapacity(value.utf8.count + 16)
        for character in value.unicodeScalars {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }
}

/// The console's static resources.
public enum OpsAssets {
    /// The page's stylesheet (`text/css`).
    public static var stylesheet: [UInt8] { PackageResources.ops_css }
}
