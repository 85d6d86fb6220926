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

    /// The start of a console page, up to and including `<body>`: the title, the stylesheet
    /// (a separate resource, so the pages' Content-Security-Policy needs no inline styles), and
    /// a reload every `refreshSeconds` when that is above 0. The pages carry no script.
    public static func document(title: String, stylesheet: String, refreshSeconds: Int = 0) -> HTMLText {
        var page = HTMLText()
        page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        if refreshSeconds > 0 { page.raw("<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">") }
        page.raw("<title>")
        page.text(title)
        page.raw("</title><link rel=\"stylesheet\"")
        page.attribute("href", stylesheet)
        page.raw("></head><body>")
        return page
    }

    /// The end of a page begun with ``document(title:stylesheet:refreshSeconds:)``; the markup.
    public mutating func finish() -> String {
        html += "</body></html>\n"
        return html
    }

    /// The parts of a page that could not be read, each with its reason; nothing when none.
    public mutating func problems(_ problems: [String]) {
        guard !problems.isEmpty else { return }
        raw("<section class=\"problems\" data-section=\"problems\"><h2>Could not be read</h2><ul>")
        for problem in problems { element("li", problem) }
        raw("</ul></section>")
    }

    /// A form's hidden `csrf` field holding `token`; nothing when no token is needed.
    public mutating func formToken(_ token: String?) {
        guard let token else { return }
        raw("<input type=\"hidden\" name=\"csrf\"")
        attribute("value", token)
        raw(">")
    }

    /// The items of a `<ul class="violations">`: each violation's field, message and rule.
    public mutating func violations(_ violations: [(field: String, rule: String, message: String)]) {
        for violation in violations {
            raw("<li><code>")
            text(violation.field)
            raw("</code> ")
            text(violation.message)
            raw(" <span class=\"rule\">")
            text(violation.rule)
            raw("</span></li>")
        }
    }

    /// The review queue's paging links: back to the newest page, and on to `older`; nothing
    /// when there is neither.
    public mutating func pager(older: String?, showsNewest: Bool) {
        guard older != nil || showsNewest else { return }
        raw("<nav class=\"pages\">")
        if showsNewest { raw("<a href=\"/ops/review\">Newest</a> ") }
        if let older {
            raw("<a")
            attribute("href", older)
            raw(">Older</a>")
        }
        raw("</nav>")
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
