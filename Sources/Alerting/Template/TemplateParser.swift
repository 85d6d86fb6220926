/// A parsed Go text/template: the subset rule authors write in labels and annotations.
///
/// Actions `{{ … }}` (with `{{-`/`-}}` trimming and `{{/* comments */}}`), pipelines joined by
/// `|`, variables (`$labels.route`, `$value`, `$`), declarations (`$x := …`, `$x = …`), fields
/// of dot (`.Labels.job`, `.Value`), parenthesised pipelines, string, raw-string, number and
/// boolean literals, and `if`/`else if`/`else`, `with`, `range` (with `$i, $x :=`) and `end`.
public struct Template: Sendable {
    let nodes: [TemplateNode]

    /// Parses `text`; `name` is used in error messages (Prometheus names templates after
    /// the label or annotation they render).
    public init(_ text: String, name: String) throws(TemplateError) {
        var parser = TemplateParser(text: text, name: name)
        nodes = try parser.parseAll()
    }
}

/// Why a template could not be parsed or executed, in Go's wording where it has one.
public struct TemplateError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

indirect enum TemplateNode: Sendable {
    case text(String)
    case action(TemplatePipeline)
    case conditional(TemplatePipeline, then: [TemplateNode], otherwise: [TemplateNode])
    case with(TemplatePipeline, then: [TemplateNode], otherwise: [TemplateNode])
    case range(TemplatePipeline, body: [TemplateNode], otherwise: [TemplateNode])
}

struct TemplatePipeline: Sendable {
    /// Variables declared (`:=`) or assigned (`=`) by the pipeline.
    var variables: [String] = []
    var isAssignment = false
    var commands: [[TemplateOperand]] = []
}

indirect enum TemplateOperand: Sendable {
    case dot(fields: [String])
    case variable(String, fields: [String])
    case function(String)
    case string(String)
    case number(Double, isInteger: Bool)
    case bool(Bool)
    case null
    case pipeline(TemplatePipeline, fields: [String])
}

private enum TemplateToken: Equatable {
    case identifier(String)
    case variable(String)
    case field(String)
    case string(String)
    case number(String)
    case pipe, leftParen, rightParen, declare, assign, comma, dot
}

struct TemplateParser {
    private let text: [Character]
    private let name: String
    private var position = 0
    /// Line of `position` (1-based), for messages.
    private var line = 1

    init(text: String, name: String) {
        self.text = Array(text)
        self.name = name
    }

    private func error(_ message: String) -> TemplateError {
        TemplateError("template: \(name):\(line): \(message)")
    }

    mutating func parseAll() throws(TemplateError) -> [TemplateNode] {
        let (nodes, terminator) = try parseList()
        if let terminator { throw error("unexpected {{\(terminator)}}") }
        return nodes
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the text; returns which ended them.
    private mutating func parseList() throws(TemplateError) -> ([TemplateNode], String?) {
        var nodes: [TemplateNode] = []
        while position < text.count {
            guard let open = find("{{", from: position) else {
                nodes.append(.text(String(text[position...])))
                position = text.count
                break
            }
            var literal = String(text[position..<open])
            var start = open + 2
            if start < text.count, text[start] == "-", start + 1 < text.count, text[start + 1].isWhitespace {
                while let last = literal.last, last.isWhitespace { literal.removeLast() }
                start += 1
            }
            if !literal.isEmpty { nodes.append(.text(literal)) }
            line += text[position..<open].filter { $0 == "\n" }.count
            position = start
            skipSpaces()
            // A comment.
            if starts(with: "/*") {
                guard let close = find("*/", from: position + 2) else { throw error("unclosed comment") }
                position = close + 2
                skipSpaces()
                try closeAction()
                continue
            }
            let tokens = try lexAction()
            guard let first = tokens.first else { throw error("missing value for command") }
            if case .identifier(let keyword) = first {
                switch keyword {
                case "end":
                    guard tokens.count == 1 else { throw error("unexpected \(describe(tokens[1])) in end") }
                    return (nodes, "end")
                case "else":
                    if tokens.count == 1 { return (nodes, "else") }
                    guard case .identifier(let chained) = tokens[1], chained == "if" || chained == "with" else {
                        throw error("unexpected \(describe(tokens[1])) in else")
                    }
                    // `else if …` / `else with …`: the rest is a nested block sharing our end.
                    let nested = try parseBlock(kind: chained, tokens: Array(tokens.dropFirst(2)))
                    nodes.append(nested)
                    return (nodes, "else-chain")
                case "if", "with", "range":
                    nodes.append(try parseBlock(kind: keyword, tokens: Array(tokens.dropFirst())))
                    continue
                case "define", "template", "block", "break", "continue":
                    throw error("{{\(keyword)}} is not supported in alert templates")
                default:
                    break
                }
            }
            var cursor = 0
            let pipeline = try parsePipeline(tokens, &cursor, context: "command")
            guard cursor == tokens.count else { throw error("unexpected \(describe(tokens[cursor])) in command") }
            nodes.append(.action(pipeline))
        }
        return (nodes, nil)
    }

    private mutating func parseBlock(kind: String, tokens: [TemplateToken]) throws(TemplateError) -> TemplateNode {
        var cursor = 0
        let pipeline = try parsePipeline(tokens, &cursor, context: kind)
        guard cursor == tokens.count else { throw error("unexpected \(describe(tokens[cursor])) in \(kind)") }
        guard !pipeline.commands.isEmpty else { throw error("missing value for \(kind)") }
        let (body, terminator) = try parseList()
        var otherwise: [TemplateNode] = []
        switch terminator {
        case "end":
            break
        case "else":
            let (elseBody, elseTerminator) = try parseList()
            guard elseTerminator == "end" else { throw error("expected end; found \(elseTerminator.map { "{{\($0)}}" } ?? "EOF")") }
            otherwise = elseBody
        case "else-chain":
            // `else if`/`else with`: parseList returned the chained block, which consumed the
            // shared `{{end}}`, as its last node.
            return makeBlock(kind: kind, pipeline: pipeline, body: Array(body.dropLast()), otherwise: body.last.map { [$0] } ?? [])
        default:
            throw error("unexpected EOF")
        }
        return makeBlock(kind: kind, pipeline: pipeline, body: body, otherwise: otherwise)
    }

    private func makeBlock(kind: String, pipeline: TemplatePipeline, body: [TemplateNode], otherwise: [TemplateNode]) -> TemplateNode {
        switch kind {
        case "if": return .conditional(pipeline, then: body, otherwise: otherwise)
        case "with": return .with(pipeline, then: body, otherwise: otherwise)
        default: return .range(pipeline, body: body, otherwise: otherwise)
        }
    }

    private func parsePipeline(_ tokens: [TemplateToken], _ cursor: inout Int, context: String) throws(TemplateError) -> TemplatePipeline {
        var pipeline = TemplatePipeline()
        // Declarations: `$x :=`, `$i, $x :=`, `$x =`.
        var lookahead = cursor
        var names: [String] = []
        while lookahead < tokens.count, case .variable(let variable) = tokens[lookahead] {
            names.append(variable)
            lookahead += 1
            if lookahead < tokens.count, tokens[lookahead] == .comma { lookahead += 1; continue }
            break
        }
        if !names.isEmpty, lookahead < tokens.count, tokens[lookahead] == .declare || tokens[lookahead] == .assign {
            pipeline.variables = names
            pipeline.isAssignment = tokens[lookahead] == .assign
            cursor = lookahead + 1
        }
        var command: [TemplateOperand] = []
        while cursor < tokens.count {
            let token = tokens[cursor]
            if token == .rightParen { break }
            if token == .pipe {
                guard !command.isEmpty else { throw error("missing command in pipeline") }
                pipeline.commands.append(command)
                command = []
                cursor += 1
                continue
            }
            command.append(try parseOperand(tokens, &cursor))
        }
        if !command.isEmpty { pipeline.commands.append(command) }
        if pipeline.commands.isEmpty, !pipeline.variables.isEmpty { throw error("missing value for \(context)") }
        return pipeline
    }

    private func parseOperand(_ tokens: [TemplateToken], _ cursor: inout Int) throws(TemplateError) -> TemplateOperand {
        let token = tokens[cursor]
        cursor += 1
        func trailingFields() -> [String] {
            var fields: [String] = []
            while cursor < tokens.count, case .field(let field) = tokens[cursor] {
                fields.append(field)
                cursor += 1
            }
            return fields
        }
        switch token {
        case .dot: return .dot(fields: [])
        case .field(let field): return .dot(fields: [field] + trailingFields())
        case .variable(let variable): return .variable(variable, fields: trailingFields())
        case .string(let value): return .string(value)
        case .number(let literal):
            if let integer = Int(literal) { return .number(Double(integer), isInteger: true) }
            if literal.hasPrefix("0x") || literal.hasPrefix("0X"), let integer = Int(literal.dropFirst(2), radix: 16) {
                return .number(Double(integer), isInteger: true)
            }
            guard let value = Double(literal) else { throw error("bad number syntax: \"\(literal)\"") }
            return .number(value, isInteger: false)
        case .identifier(let identifier):
            switch identifier {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "nil": return .null
            default:
                guard TemplateFunctions.names.contains(identifier) else { throw error("function \"\(identifier)\" not defined") }
                return .function(identifier)
            }
        case .leftParen:
            let inner = try parsePipeline(tokens, &cursor, context: "parenthesized pipeline")
            guard cursor < tokens.count, tokens[cursor] == .rightParen else { throw error("unclosed left paren") }
            cursor += 1
            return .pipeline(inner, fields: trailingFields())
        default:
            throw error("unexpected \(describe(token)) in operand")
        }
    }

    private func describe(_ token: TemplateToken) -> String {
        switch token {
        case .identifier(let text), .number(let text): return "<\(text)>"
        case .variable(let text): return "<\(text)>"
        case .field(let text): return "<.\(text)>"
        case .string(let text): return "\"\(text)\""
        case .pipe: return "<|>"
        case .leftParen: return "<(>"
        case .rightParen: return "<)>"
        case .declare: return "<:=>"
        case .assign: return "<=>"
        case .comma: return "<,>"
        case .dot: return "<.>"
        }
    }

    // MARK: - Lexing one action

    private func find(_ needle: String, from start: Int) -> Int? {
        let pattern = Array(needle)
        var index = start
        while index + pattern.count <= text.count {
            if text[index] == pattern[0], Array(text[index..<index + pattern.count]) == pattern { return index }
            index += 1
        }
        return nil
    }

    private func starts(with prefix: String) -> Bool {
        let pattern = Array(prefix)
        return position + pattern.count <= text.count && Array(text[position..<position + pattern.count]) == pattern
    }

    private mutating func skipSpaces() {
        while position < text.count, text[position].isWhitespace {
            if text[position] == "\n" { line += 1 }
            position += 1
        }
    }

    /// Consumes `}}` or ` -}}` (which also trims the whitespace after it).
    private mutating func closeAction() throws(TemplateError) {
        if starts(with: "-}}") {
            position += 3
            while position < text.count, text[position].isWhitespace {
                if text[position] == "\n" { line += 1 }
                position += 1
            }
            return
        }
        guard starts(with: "}}") else { throw error("unclosed action") }
        position += 2
    }

    private mutating func lexAction() throws(TemplateError) -> [TemplateToken] {
        var tokens: [TemplateToken] = []
        while true {
            skipSpaces()
            guard position < text.count else { throw error("unclosed action") }
            if starts(with: "}}") || (starts(with: "-}}") && (tokens.isEmpty || text[position - 1].isWhitespace)) {
                try closeAction()
                return tokens
            }
            let character = text[position]
            switch character {
            case "|": tokens.append(.pipe); position += 1
            case "(": tokens.append(.leftParen); position += 1
            case ")": tokens.append(.rightParen); position += 1
            case ",": tokens.append(.comma); position += 1
            case "=": tokens.append(.assign); position += 1
            case ":":
                guard starts(with: ":=") else { throw error("expected :=") }
                tokens.append(.declare)
                position += 2
            case "\"":
                tokens.append(.string(try lexQuoted()))
            case "`":
                guard let close = find("`", from: position + 1) else { throw error("unterminated raw quoted string") }
                tokens.append(.string(String(text[position + 1..<close])))
                position = close + 1
            case "$":
                let name = lexWord(from: position + 1)
                tokens.append(.variable("$" + name))
                position += 1 + name.count
            case ".":
                let next = position + 1 < text.count ? text[position + 1] : " "
                if next.isLetter || next == "_" {
                    let name = lexWord(from: position + 1)
                    tokens.append(.field(name))
                    position += 1 + name.count
                } else if next.isNumber {
                    tokens.append(.number(lexNumber()))
                } else {
                    tokens.append(.dot)
                    position += 1
                }
            default:
                if character.isNumber || ((character == "-" || character == "+") && position + 1 < text.count && (text[position + 1].isNumber || text[position + 1] == ".")) {
                    tokens.append(.number(lexNumber()))
                } else if character.isLetter || character == "_" {
                    let name = lexWord(from: position)
                    tokens.append(.identifier(name))
                    position += name.count
                } else {
                    throw error("unexpected \"\(character)\" in command")
                }
            }
        }
    }

    private func lexWord(from start: Int) -> String {
        var end = start
        while end < text.count, text[end].isLetter || text[end].isNumber || text[end] == "_" { end += 1 }
        return String(text[start..<end])
    }

    private mutating func lexNumber() -> String {
        let start = position
        if text[position] == "-" || text[position] == "+" { position += 1 }
        while position < text.count {
            let character = text[position]
            let previous = text[position - 1]
            if character.isNumber || character.isLetter || character == "." || character == "_"
                || ((character == "-" || character == "+") && (previous == "e" || previous == "E")) {
                position += 1
            } else {
                break
            }
        }
        return String(text[start..<position])
    }

    private mutating func lexQuoted() throws(TemplateError) -> String {
        var value = ""
        position += 1
        while position < text.count {
            let character = text[position]
            position += 1
            switch character {
            case "\"":
                return value
            case "\n":
                throw error("unterminated quoted string")
            case "\\":
                guard position < text.count else { throw error("unterminated quoted string") }
                let escaped = text[position]
                position += 1
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "\\": value.append("\\")
                case "\"": value.append("\"")
                case "'": value.append("'")
                default: throw error("invalid syntax in quoted string: \\\(escaped)")
                }
            default:
                value.append(character)
            }
        }
        throw error("unterminated quoted string")
    }
}
