/// Go's `regexp` calls the template functions make: unanchored matching and
/// `ReplaceAllString` with `$1`, `${1}`, `$name` and `$$` in the replacement.
enum GoRegex {
    static func compile(_ pattern: String) throws(TemplateError) -> Regex<AnyRegexOutput> {
        do {
            return try Regex(pattern)
        } catch {
            throw TemplateError("error parsing regexp: \(error): `\(pattern)`")
        }
    }

    static func matches(pattern: String, text: String) throws(TemplateError) -> Bool {
        let regex = try compile(pattern)
        return (try? regex.firstMatch(in: text)) != nil
    }

    static func replaceAll(pattern: String, replacement: String, in text: String) throws(TemplateError) -> String {
        let regex = try compile(pattern)
        var output = ""
        var position = text.startIndex
        for match in text.matches(of: regex) {
            output += text[position..<match.range.lowerBound]
            output += expand(replacement, match)
            position = match.range.upperBound
        }
        output += text[position...]
        return output
    }

    /// The replacement with group references filled in; `$1x` names group "1x" (empty), as in Go.
    private static func expand(_ template: String, _ match: Regex<AnyRegexOutput>.Match) -> String {
        var output = ""
        var characters = Array(template)[...]
        while let character = characters.popFirst() {
            guard character == "$" else {
                output.append(character)
                continue
            }
            if characters.first == "$" {
                characters.removeFirst()
                output.append("$")
                continue
            }
            var name = ""
            if characters.first == "{" {
                guard let close = characters.firstIndex(of: "}") else {
                    output.append("$")
                    continue
                }
                name = String(characters[characters.index(after: characters.startIndex)..<close])
                characters = characters[characters.index(after: close)...]
            } else {
                while let next = characters.first, next.isLetter || next.isNumber || next == "_" {
                    name.append(next)
                    characters.removeFirst()
                }
            }
            guard !name.isEmpty else {
                output.append("$")
                continue
            }
            if let number = Int(name) {
                if number < match.output.count, let substring = match.output[number].substring { output += substring }
            } else if let substring = match.output[name]?.substring {
                output += substring
            }
        }
        return output
    }
}
