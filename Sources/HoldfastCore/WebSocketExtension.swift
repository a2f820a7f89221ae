import NIOHTTP1

/// One entry of a `Sec-WebSocket-Extensions` header: an extension's name and its parameters
/// (RFC 6455 §9.1), e.g. `permessage-deflate; client_max_window_bits=10`.
public struct WebSocketExtension: Sendable, Hashable, CustomStringConvertible {
    /// A parameter: a name, and a value unless it is a bare flag.
    public struct Parameter: Sendable, Hashable {
        /// The parameter's name, e.g. `server_no_context_takeover`.
        public var name: String
        /// The value, unquoted; `nil` for a parameter given without `=`.
        public var value: String?

        /// Creates a parameter.
        public init(_ name: String, value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    /// The extension's name, e.g. `permessage-deflate`.
    public var name: String
    /// The parameters, in the order given.
    public var parameters: [Parameter]

    /// Creates an extension entry.
    public init(name: String, parameters: [Parameter] = []) {
        self.name = name
        self.parameters = parameters
    }

    /// The entry as it appears in the header: `name; param; param=value`.
    public var description: String {
        ([name] + parameters.map { parameter in
            parameter.value.map { "\(parameter.name)=\($0)" } ?? parameter.name
        }).joined(separator: "; ")
    }

    /// The syntax of the header was broken; the reason says where.
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What was wrong.
        public let reason: String
        public var description: String { "malformed Sec-WebSocket-Extensions: \(reason)" }
    }

    /// Every entry of every `Sec-WebSocket-Extensions` header in `headers`, in order.
    /// - Throws: ``SyntaxError`` for an entry that is not `token *( ";" param )`, a parameter
    ///   value that is neither a token nor a quoted token (RFC 6455 §9.1).
    public static func parse(_ headers: HTTPHeaders) throws(SyntaxError) -> [WebSocketExtension] {
        var entries: [WebSocketExtension] = []
        for value in headers[canonicalForm: "sec-websocket-extensions"] {
            entries.append(try parseEntry(Substring(value)))
        }
        return entries
    }

    /// Every entry of `headers` that parses; an entry with broken syntax is left out, so that a
    /// server can decline it and go on (RFC 7692 §5: an offer the server does not accept is
    /// simply not answered).
    public static func parseLeniently(_ headers: HTTPHeaders) -> [WebSocketExtension] {
        headers[canonicalForm: "sec-websocket-extensions"].compactMap { try? parseEntry(Substring($0)) }
    }

    /// `headers[canonicalForm:]` has already split the header at commas; that is safe here, since
    /// a value, quoted or not, must be a token and so holds no comma.
    private static func parseEntry(_ text: Substring) throws(SyntaxError) -> WebSocketExtension {
        let pieces = text.split(separator: ";", omittingEmptySubsequences: false)
        let name = pieces[0].trimmingWhitespace
        guard isToken(name) else { throw SyntaxError(reason: "extension name '\(name)' is not a token") }
        var parameters: [Parameter] = []
        for piece in pieces.dropFirst() {
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let parameterName = parts[0].trimmingWhitespace
            guard isToken(parameterName) else {
                throw SyntaxError(reason: "parameter name '\(parameterName)' is not a token")
            }
            guard parts.count == 2 else {
                parameters.append(Parameter(String(parameterName)))
                continue
            }
            var value = parts[1].trimmingWhitespace
            // RFC 6455 §9.1: a quoted value must, once unquoted, be a token too.
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = value.dropFirst().dropLast()
            }
            guard isToken(value) else {
                throw SyntaxError(reason: "value of parameter '\(parameterName)' is not a token")
            }
            parameters.append(Parameter(String(parameterName), value: String(value)))
        }
        return WebSocketExtension(name: String(name), parameters: parameters)
    }

    /// RFC 7230 §3.2.6 token characters.
    private static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
