public import TimeSeries

/// Parses PromQL as Prometheus 2.42 does (float samples): literals, selectors, `offset`, `@`,
/// subqueries, unary and binary operators with Prometheus's precedence (`^` right-associative),
/// vector matching, aggregations and function calls, checking types as it goes.
public struct Parser {
    private var tokens: [Token]
    private var index = 0
    private let query: String

    /// The expression `query` stands for.
    public static func parse(_ query: String) throws(ParseError) -> Expr {
        var lexer = Lexer(query)
        var parser = Parser(tokens: try lexer.tokens(), query: query)
        guard parser.peek.kind != .end else { throw ParseError(position: SourcePosition(line: 1, column: 1), message: "no expression found in input") }
        let expr = try parser.expression(minimum: 1)
        guard parser.peek.kind == .end else { throw parser.unexpected(parser.peek, expecting: nil) }
        return expr
    }

    /// A series selector for the HTTP API's `match[]`: a vector selector and nothing else.
    public static func parseSelector(_ text: String) throws(ParseError) -> [LabelMatcher] {
        let expr = try parse(text)
        guard case .vector(let selector) = expr, selector.offset == 0, selector.at == nil else {
            throw ParseError(position: SourcePosition(line: 1, column: 1), message: "expected a series selector, got \(expr.type.rawValue) expression")
        }
        return selector.matchers
    }

    private init(tokens: [Token], query: String) {
        self.tokens = tokens
        self.query = query
    }

    private var peek: Token { tokens[index] }
    private func peek(_ ahead: Int) -> Token { tokens[min(index + ahead, tokens.count - 1)] }

    @discardableResult
    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func unexpected(_ token: Token, expecting: String?) -> ParseError {
        let what = token.kind == .end ? "end of input" : token.kind.text
        var message = "unexpected \(what)"
        if let expecting { message += "; expected \(expecting)" }
        return ParseError(position: token.position, message: message)
    }

    private func error(_ message: String, at token: Token) -> ParseError {
        ParseError(position: token.position, message: message)
    }

    private mutating func expect(_ kind: TokenKind, _ description: String) throws(ParseError) -> Token {
        guard peek.kind == kind else { throw unexpected(peek, expecting: description) }
        return advance()
    }

    // MARK: Binary expressions

    private func binaryOperator(_ token: Token) -> BinaryOperator? {
        switch token.kind {
        case .plus: return .add
        case .minus: return .subtract
        case .multiply: return .multiply
        case .divide: return .divide
        case .modulo: return .modulo
        case .power: return .power
        case .equal: return .equal
        case .notEqual: return .notEqual
        case .greater: return .greater
        case .less: return .less
        case .greaterEqual: return .greaterEqual
        case .lessEqual: return .lessEqual
        case .identifier(let name):
            switch name.lowercased() {
            case "and": return .and
            case "or": return .or
            case "unless": return .unless
            case "atan2": return .atan2
            default: return nil
            }
        default: return nil
        }
    }

    private mutating func expression(minimum: Int) throws(ParseError) -> Expr {
        var lhs = try unary()
        while let op = binaryOperator(peek), op.precedence >= minimum {
            let operatorToken = advance()
            var returnBool = false
            if case .identifier(let word) = peek.kind, word.lowercased() == "bool" {
                guard op.isComparison else { throw error("bool modifier can only be used on comparison operators", at: peek) }
                advance()
                returnBool = true
            }
            var matching: VectorMatching?
            if case .identifier(let word) = peek.kind, ["on", "ignoring"].contains(word.lowercased()) {
                advance()
                var vectorMatching = VectorMatching()
                vectorMatching.on = word.lowercased() == "on"
                vectorMatching.labels = try labelList()
                if case .identifier(let group) = peek.kind, ["group_left", "group_right"].contains(group.lowercased()) {
                    let groupToken = advance()
                    if op.isSetOperator { throw error("no grouping allowed for \"\(op.rawValue)\" operation", at: groupToken) }
                    vectorMatching.cardinality = group.lowercased() == "group_left" ? .manyToOne : .oneToMany
                    if peek.kind == .leftParen { vectorMatching.include = try labelList() }
                }
                matching = vectorMatching
            } else if case .identifier(let group) = peek.kind, ["group_left", "group_right"].contains(group.lowercased()) {
                throw unexpected(peek, expecting: nil)
            }
            let rhs = try expression(minimum: op == .power ? op.precedence : op.precedence + 1)
            lhs = try binary(op, lhs, rhs, matching: matching, returnBool: returnBool, at: operatorToken)
        }
        return lhs
    }

    private func binary(_ op: BinaryOperator, _ lhs: Expr, _ rhs: Expr, matching: VectorMatching?, returnBool: Bool, at token: Token) throws(ParseError) -> Expr {
        for side in [lhs, rhs] where side.type != .scalar && side.type != .vector {
            throw error("binary expression must contain only scalar and instant vector types", at: token)
        }
        let bothVectors = lhs.type == .vector && rhs.type == .vector
        if op.isSetOperator {
            guard bothVectors else {
                throw error("set operator \"\(op.rawValue)\" not allowed in binary scalar expression", at: token)
            }
        }
        if op.isComparison && !returnBool && lhs.type == .scalar && rhs.type == .scalar {
            throw error("comparisons between scalars must use BOOL modifier", at: token)
        }
        if matching != nil && !bothVectors {
            throw error("vector matching only allowed between instant vectors", at: token)
        }
        var resolved = matching
        if bothVectors {
            var vectorMatching = matching ?? VectorMatching()
            if op.isSetOperator { vectorMatching.cardinality = .manyToMany }
            let grouped = vectorMatching.cardinality == .manyToOne || vectorMatching.cardinality == .oneToMany
            if grouped && vectorMatching.on {
                for label in vectorMatching.include where vectorMatching.labels.contains(label) {
                    throw error("label \"\(label)\" must not occur in ON and GROUP clause at once", at: token)
                }
            }
            resolved = vectorMatching
        }
        return .binary(op, lhs, rhs, matching: resolved, returnBool: returnBool)
    }

    private mutating func labelList() throws(ParseError) -> [String] {
        _ = try expect(.leftParen, "\"(\"")
        var labels: [String] = []
        while true {
            if peek.kind == .rightParen {
                advance()
                return labels
            }
            guard case .identifier(let name) = peek.kind else { throw unexpected(peek, expecting: "label name or \")\"") }
            advance()
            labels.append(name)
            if peek.kind == .comma {
                advance()
            } else if peek.kind != .rightParen {
                throw unexpected(peek, expecting: "\",\" or \")\"")
            }
        }
    }

    // MARK: Unary and postfix

    private mutating func unary() throws(ParseError) -> Expr {
        if peek.kind == .minus || peek.kind == .plus {
            let sign = advance()
            // Unary operators bind like multiplication: -a^b is -(a^b), -a*b is (-a)*b.
            let operand = try expression(minimum: BinaryOperator.power.precedence)
            guard operand.type == .scalar || operand.type == .vector else {
                throw error("unary expression only allowed on expressions of type scalar or instant vector, got \"\(operand.type.rawValue)\"", at: sign)
            }
            if sign.kind == .plus { return operand }
            if case .number(let value) = operand { return .number(-value) }
            return .negate(operand)
        }
        return try postfix(try primary())
    }

    private mutating func postfix(_ base: Expr) throws(ParseError) -> Expr {
        var expr = base
        while true {
            switch peek.kind {
            case .leftBracket:
                let open = advance()
                guard case .duration(let range) = peek.kind else { throw unexpected(peek, expecting: "number or duration") }
                advance()
                if peek.kind == .colon {
                    advance()
                    var step: Int64?
                    if case .duration(let value) = peek.kind {
                        advance()
                        step = value
                    }
                    _ = try expect(.rightBracket, "\"]\"")
                    guard expr.type == .vector else {
                        throw error("subquery is only allowed on instant vector, got \(expr.type.rawValue) instead", at: open)
                    }
                    expr = .subquery(expr, range: range, step: step, offset: 0, at: nil)
                } else {
                    _ = try expect(.rightBracket, "\"]\"")
                    guard case .vector(let selector) = expr, selector.offset == 0, selector.at == nil else {
                        throw error("ranges only allowed for vector selectors", at: open)
                    }
                    expr = .matrix(selector, range: range)
                }
            case .identifier(let word) where word.lowercased() == "offset":
                let token = advance()
                var sign: Int64 = 1
                if peek.kind == .minus {
                    advance()
                    sign = -1
                }
                guard case .duration(let duration) = peek.kind else { throw unexpected(peek, expecting: "duration") }
                advance()
                expr = try applyOffset(sign * duration, to: expr, at: token)
            case .at:
                let token = advance()
                let at: AtModifier
                switch peek.kind {
                case .number(let seconds):
                    advance()
                    guard seconds.isFinite, abs(seconds) < 9.2e15 else { throw error("timestamp out of bounds for @ modifier: \(seconds)", at: token) }
                    at = .time(Int64((seconds * 1000).rounded()))
                case .minus:
                    advance()
                    guard case .number(let seconds) = peek.kind, seconds.isFinite else { throw unexpected(peek, expecting: "number") }
                    advance()
                    at = .time(-Int64((seconds * 1000).rounded()))
                case .identifier(let name) where name == "start" || name == "end":
                    advance()
                    _ = try expect(.leftParen, "\"(\"")
                    _ = try expect(.rightParen, "\")\"")
                    at = name == "start" ? .start : .end
                default:
                    throw unexpected(peek, expecting: "timestamp, start() or end()")
                }
                expr = try applyAt(at, to: expr, at: token)
            default:
                return expr
            }
        }
    }

    private func applyOffset(_ offset: Int64, to expr: Expr, at token: Token) throws(ParseError) -> Expr {
        switch expr {
        case .vector(var selector):
            guard selector.offset == 0 else { throw error("offset may not be set multiple times", at: token) }
            selector.offset = offset
            return .vector(selector)
        case .matrix(var selector, let range):
            guard selector.offset == 0 else { throw error("offset may not be set multiple times", at: token) }
            selector.offset = offset
            return .matrix(selector, range: range)
        case .subquery(let inner, let range, let step, let existing, let at):
            guard existing == 0 else { throw error("offset may not be set multiple times", at: token) }
            return .subquery(inner, range: range, step: step, offset: offset, at: at)
        default:
            throw error("offset modifier must be preceded by an instant vector selector or range vector selector or a subquery", at: token)
        }
    }

    private func applyAt(_ at: AtModifier, to expr: Expr, at token: Token) throws(ParseError) -> Expr {
        switch expr {
        case .vector(var selector):
            guard selector.at == nil else { throw error("@ <timestamp> may not be set multiple times", at: token) }
            selector.at = at
            return .vector(selector)
        case .matrix(var selector, let range):
            guard selector.at == nil else { throw error("@ <timestamp> may not be set multiple times", at: token) }
            selector.at = at
            return .matrix(selector, range: range)
        case .subquery(let inner, let range, let step, let offset, let existing):
            guard existing == nil else { throw error("@ <timestamp> may not be set multiple times", at: token) }
            return .subquery(inner, range: range, step: step, offset: offset, at: at)
        default:
            throw error("@ modifier must be preceded by an instant vector selector or range vector selector or a subquery", at: token)
        }
    }

    // MARK: Primary expressions

    private mutating func primary() throws(ParseError) -> Expr {
        let token = peek
        switch token.kind {
        case .number(let value):
            advance()
            return .number(value)
        case .string(let text):
            advance()
            return .string(text)
        case .leftParen:
            advance()
            let inner = try expression(minimum: 1)
            _ = try expect(.rightParen, "\")\"")
            return .parenthesized(inner)
        case .leftBrace:
            return .vector(try selector(name: nil, at: token))
        case .metricIdentifier(let name):
            advance()
            return .vector(try selector(name: name, at: token))
        case .identifier(let name):
            if let aggregate = AggregateOperator(rawValue: name.lowercased()) {
                let next = peek(1).kind
                if next == .leftParen || next == .identifier("by") || next == .identifier("without") {
                    return try aggregation(aggregate)
                }
            }
            if peek(1).kind == .leftParen {
                return try call(name)
            }
            if ["by", "without", "bool", "on", "ignoring", "group_left", "group_right", "offset"].contains(name.lowercased()) {
                throw unexpected(token, expecting: nil)
            }
            advance()
            return .vector(try selector(name: name, at: token))
        case .duration:
            throw unexpected(token, expecting: nil)
        default:
            throw unexpected(token, expecting: nil)
        }
    }

    private mutating func selector(name: String?, at token: Token) throws(ParseError) -> VectorSelector {
        var matchers: [LabelMatcher] = []
        if let name { matchers.append(.equal(Labels.metricName, name)) }
        if peek.kind == .leftBrace {
            advance()
            while true {
                if peek.kind == .rightBrace {
                    advance()
                    break
                }
                let labelToken = peek
                let label: String
                switch labelToken.kind {
                case .identifier(let text): label = text
                default: throw unexpected(labelToken, expecting: "label matching")
                }
                advance()
                let kind: LabelMatcher.Kind
                switch peek.kind {
                case .assign: kind = .equal
                case .notEqual: kind = .notEqual
                case .regexMatch: kind = .regexMatch
                case .regexNoMatch: kind = .regexNoMatch
                default: throw unexpected(peek, expecting: "label matching operator")
                }
                advance()
                guard case .string(let value) = peek.kind else { throw unexpected(peek, expecting: "string") }
                let valueToken = advance()
                if name != nil && label == Labels.metricName {
                    throw error("metric name must not be set twice: \"\(name ?? "")\" or \"\(value)\"", at: labelToken)
                }
                do {
                    matchers.append(try LabelMatcher(kind, label, value))
                } catch {
                    throw self.error("\(error)", at: valueToken)
                }
                if peek.kind == .comma {
                    advance()
                } else if peek.kind != .rightBrace {
                    throw unexpected(peek, expecting: "\",\" or \"}\"")
                }
            }
        }
        guard matchers.contains(where: { !$0.matches("") }) else {
            throw error("vector selector must contain at least one non-empty matcher", at: token)
        }
        return VectorSelector(name: name, matchers: matchers)
    }

    private mutating func aggregation(_ op: AggregateOperator) throws(ParseError) -> Expr {
        let token = advance()
        var grouping: [String] = []
        var without = false
        var sawGrouping = false
        if case .identifier(let word) = peek.kind, word.lowercased() == "by" || word.lowercased() == "without" {
            advance()
            without = word.lowercased() == "without"
            grouping = try labelList()
            sawGrouping = true
        }
        let arguments = try argumentList()
        if !sawGrouping, case .identifier(let word) = peek.kind, word.lowercased() == "by" || word.lowercased() == "without" {
            advance()
            without = word.lowercased() == "without"
            grouping = try labelList()
        }
        let expected = op.takesParameter ? 2 : 1
        guard arguments.count == expected else {
            throw error("wrong number of arguments for aggregate expression provided, expected \(expected), got \(arguments.count)", at: token)
        }
        let parameter = op.takesParameter ? arguments[0] : nil
        let operand = arguments[expected - 1]
        guard operand.type == .vector else {
            throw error("expected type instant vector in aggregation expression, got \(operand.type.rawValue)", at: token)
        }
        if let parameter {
            let wanted: ValueType = op == .count_values ? .string : .scalar
            guard parameter.type == wanted else {
                throw error("expected type \(wanted.rawValue) in aggregation parameter, got \(parameter.type.rawValue)", at: token)
            }
        }
        return .aggregate(op, operand, parameter: parameter, grouping: grouping, without: without)
    }

    /// `( expr, expr, … )`, possibly empty.
    private mutating func argumentList() throws(ParseError) -> [Expr] {
        _ = try expect(.leftParen, "\"(\"")
        var arguments: [Expr] = []
        if peek.kind != .rightParen {
            arguments.append(try expression(minimum: 1))
            while peek.kind == .comma {
                advance()
                arguments.append(try expression(minimum: 1))
            }
        }
        _ = try expect(.rightParen, "\")\"")
        return arguments
    }

    private mutating func call(_ name: String) throws(ParseError) -> Expr {
        let token = advance()
        guard let signature = FunctionTable.functions[name] else { throw error("unknown function with name \"\(name)\"", at: token) }
        let arguments = try argumentList()
        let required = signature.arguments.count - signature.optional
        if arguments.count < required || (!signature.variadic && arguments.count > signature.arguments.count) {
            let expected = signature.optional > 0 && !signature.variadic ? "\(required) or \(signature.arguments.count)" : "\(signature.arguments.count)"
            throw error("expected \(expected) argument(s) in call to \"\(name)\", got \(arguments.count)", at: token)
        }
        for (position, argument) in arguments.enumerated() {
            let wanted = signature.arguments[min(position, signature.arguments.count - 1)]
            guard argument.type == wanted else {
                throw error("expected type \(wanted.rawValue) in call to function \"\(name)\", got \(argument.type.rawValue)", at: token)
            }
        }
        return .call(name, arguments)
    }
}
