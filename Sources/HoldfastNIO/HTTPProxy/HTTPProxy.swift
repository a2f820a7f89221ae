import Foundation

/// An HTTP proxy that a client reaches its server through with `CONNECT host:port` (RFC 9110
/// §9.3.6): the proxy opens a TCP tunnel, and TLS and the WebSocket upgrade run inside it, so the
/// proxy never sees what `wss://` carries.
public struct HTTPProxy: Sendable, Hashable, CustomStringConvertible {
    /// A user name and password for the proxy, sent as `Proxy-Authorization: Basic …`
    /// (RFC 7617) with every `CONNECT`.
    public struct Credentials: Sendable, Hashable {
        /// The user name; it must not contain `:` (Basic authentication separates on it).
        public var username: String
        /// The password.
        public var password: String

        /// Creates credentials.
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// Why a string is not an HTTP proxy URL.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong with it.
        public let reason: String
        public var description: String { reason }
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    public var host: String
    /// The proxy's TCP port.
    public var port: Int
    /// Credentials sent to the proxy. Default `nil`: none, for a proxy that asks for none.
    public var credentials: Credentials?

    /// Creates a proxy setting.
    /// - Parameters:
    ///   - host: the proxy's host name or IP address.
    ///   - port: the proxy's port.
    ///   - credentials: sent as `Proxy-Authorization: Basic …`; default none.
    public init(host: String, port: Int, credentials: Credentials? = nil) {
        self.host = host
        self.port = port
        self.credentials = credentials
    }

    /// Parses a proxy URL as found in `https_proxy` and friends: `http://user:password@host:port`.
    ///
    /// The scheme may be left out (`proxy.example:3128`, as many tools accept). The port defaults
    /// to 80, the port of `http`. User name and password are percent-decoded, so `%40` stands for
    /// `@`. A path (`/`) is ignored. `https://` proxies (TLS to the proxy itself) are refused: the
    /// client speaks plain HTTP to the proxy, and TLS only to the server, inside the tunnel.
    public init(url string: String) throws(ParseError) {
        var rest = Substring(string.trimmingCharacters(in: .whitespaces))
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" else {
                throw ParseError(reason: "proxy '\(string)': only http:// proxies are supported, not \(scheme)://")
            }
            rest = rest[schemeEnd.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let (user, password) = userinfo.firstIndex(of: ":").map {
                (userinfo[..<$0], userinfo[userinfo.index(after: $0)...])
            } ?? (userinfo, "")
            guard let username = String(user).removingPercentEncoding,
                  let decodedPassword = String(password).removingPercentEncoding
            else {
                throw ParseError(reason: "proxy '\(string)': invalid percent-encoding in the user name or password")
            }
            credentials = Credentials(username: username, password: decodedPassword)
        } else {
            credentials = nil
        }
        let (host, port) = try Self.hostAndPort(rest, defaultPort: 80, in: string)
        self.host = host
        self.port = port
    }

    /// Splits `authority` into a host (brackets of IPv6 removed) and a port.
    static func hostAndPort(_ authority: Substring, defaultPort: Int, in original: String) throws(ParseError)
        -> (host: String, port: Int)
    {
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw ParseError(reason: "proxy '\(original)': unexpected text after ']'")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { throw ParseError(reason: "proxy '\(original)' has no host") }
        guard let portText else { return (String(host), defaultPort) }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port)
        else {
            throw ParseError(reason: "proxy '\(original)': '\(portText)' is not a port number (1-65535)")
        }
        return (String(host), port)
    }

    /// The value of the `Proxy-Authorization` header (RFC 7617: `Basic` and the base64 of
    /// `user:password`), or `nil` without credentials.
    public var authorization: String? {
        guard let credentials else { return nil }
        return "Basic " + Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
    }

    /// The proxy's address as `host:port`, without the credentials: safe to log and show.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
