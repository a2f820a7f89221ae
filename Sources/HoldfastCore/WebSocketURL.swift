/// A parsed `ws://` or `wss://` URL (RFC 6455 §3): host, port and the request target.
public struct WebSocketURL: Sendable, Hashable, CustomStringConvertible {
    /// Whether the connection uses TLS (`wss`).
    public var isSecure: Bool
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    public var host: String
    /// The port: as given, or 80 for `ws` and 443 for `wss`.
    public var port: Int
    /// The path, starting with `/`.
    public var path: String
    /// The query without its `?`, if there is one.
    public var query: String?

    /// Why a string is not a WebSocket URL.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong with it.
        public let reason: String
        public var description: String { reason }
    }

    /// Parses `string`: `ws://` or `wss://`, a host (bracketed for IPv6), an optional port, then an
    /// optional path and query. Fragments are not allowed (RFC 6455 §3).
    public init(_ string: String) throws(ParseError) {
        let lowered = string.lowercased()
        let rest: Substring
        if lowered.hasPrefix("ws://") {
            isSecure = false
            rest = string.dropFirst(5)
        } else if lowered.hasPrefix("wss://") {
            isSecure = true
            rest = string.dropFirst(6)
        } else {
            throw ParseError(reason: "'\(string)' is not a ws:// or wss:// URL")
        }
        guard !rest.contains("#") else { throw ParseError(reason: "a WebSocket URL has no fragment: '\(string)'") }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = rest[authorityEnd...]
        guard !authority.contains("@") else { throw ParseError(reason: "user information in a WebSocket URL is not supported") }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw ParseError(reason: "unclosed '[' in the host of '\(string)'")
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let afterHost = authority[authority.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else { throw ParseError(reason: "unexpected text after ']' in '\(string)'") }
                portText = afterHost.dropFirst()
            }
            guard host.contains(":") else { throw ParseError(reason: "'[\(host)]' is not an IPv6 address") }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = String(authority)
            }
            // RFC 3986 §3.2.2: an IPv6 address is only valid in brackets; "ws://::1" is not a host and port.
            guard !host.contains(":") else {
                throw ParseError(reason: "an IPv6 address must be in brackets in '\(string)'")
            }
        }
        guard !host.isEmpty else { throw ParseError(reason: "'\(string)' has no host") }
        if let portText {
            // RFC 3986 §3.2.3: a port is digits only, so "+80" is refused although Int("+80") is 80.
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
                  (1...65535).contains(port)
            else {
                throw ParseError(reason: "'\(portText)' is not a port number (1-65535)")
            }
            self.port = port
        } else {
            self.port = isSecure ? 443 : 80
        }
        if let questionMark = target.firstIndex(of: "?") {
            query = String(target[target.index(after: questionMark)...])
            target = target[..<questionMark]
        } else {
            query = nil
        }
        path = target.isEmpty ? "/" : String(target)
    }

    /// The request target of the upgrade request: the path and the query.
    public var requestTarget: String {
        query.map { "\(path)?\($0)" } ?? path
    }

    /// The value of the `Host` header: the host (bracketed when IPv6), with the port unless it is
    /// the scheme's default.
    public var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = isSecure ? 443 : 80
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    public var description: String {
        "\(isSecure ? "wss" : "ws")://\(hostHeader == "" ? host : (host.contains(":") ? "[\(host)]" : host)):\(port)\(requestTarget)"
    }
}
