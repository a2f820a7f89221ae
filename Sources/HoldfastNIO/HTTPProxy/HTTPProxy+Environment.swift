import Foundation
import HoldfastCore

extension HTTPProxy {
    /// The proxy for `url` named by the conventional environment variables, or `nil` for a
    /// direct connection.
    ///
    /// `wss://` URLs take `https_proxy`, `ws://` URLs `http_proxy` (WebSocket rides on HTTP and
    /// HTTPS, and these are the variables curl, Go and Python read for them), and both fall back
    /// to `all_proxy`. Each is looked up in lower case first, then in upper case; an empty value
    /// counts as unset. `no_proxy` (or `NO_PROXY`) then exempts hosts, see
    /// ``isExempt(host:port:noProxy:)``.
    ///
    /// It takes the environment as a parameter so that it can be tested, and so that a caller
    /// decides where it comes from: `ProcessInfo.processInfo.environment` for the process's own.
    /// - Throws: ``ParseError`` naming the variable when its value is not a proxy URL.
    public static func fromEnvironment(_ environment: [String: String], for url: WebSocketURL) throws(ParseError)
        -> HTTPProxy?
    {
        let names = url.isSecure ? ["https_proxy", "all_proxy"] : ["http_proxy", "all_proxy"]
        var found: (name: String, value: String)?
        for name in names {
            if let value = value(of: name, in: environment) {
                found = value
                break
            }
        }
        guard let found else { return nil }
        if let noProxy = value(of: "no_proxy", in: environment),
           isExempt(host: url.host, port: url.port, noProxy: noProxy.value)
        {
            return nil
        }
        do {
            return try HTTPProxy(url: found.value)
        } catch {
            throw ParseError(reason: "\(found.name): \(error.reason)")
        }
    }

    /// The non-empty value of `name` in lower case, else in upper case, with the name it was found under.
    private static func value(of name: String, in environment: [String: String]) -> (name: String, value: String)? {
        for spelling in [name, name.uppercased()] {
            if let value = environment[spelling], !value.trimmingCharacters(in: .whitespaces).isEmpty {
                return (spelling, value)
            }
        }
        return nil
    }

    /// Whether `no_proxy` exempts `host` (and `port`) from the proxy.
    ///
    /// `noProxy` is a comma-separated list, as curl and Go read it: `*` exempts every host; a
    /// name exempts itself and its subdomains (`example.com` and `.example.com` both exempt
    /// `example.com` and `api.example.com`, `*.example.com` too); an IP address exempts itself
    /// (IPv6 with or without brackets); an entry with `:port` applies to that port only. Names
    /// compare without regard to case. CIDR ranges are not supported: such an entry exempts nothing.
    public static func isExempt(host: String, port: Int, noProxy: String) -> Bool {
        let host = normalized(host)
        for rawEntry in noProxy.split(separator: ",") {
            var entry = Substring(rawEntry.trimmingCharacters(in: .whitespaces).lowercased())
            if entry == "*" { return true }
            guard !entry.isEmpty else { continue }
            let (entryHost, entryPort) = splitPort(entry)
            if let entryPort, entryPort != port { continue }
            entry = entryHost
            if entry.hasPrefix("*.") { entry = entry.dropFirst() }
            let name = normalized(String(entry.hasPrefix(".") ? entry.dropFirst() : entry))
            if host == name || host.hasSuffix("." + name) { return true }
        }
        return false
    }

    /// Splits a `no_proxy` entry into its host and its port, if it has one.
    private static func splitPort(_ entry: Substring) -> (host: Substring, port: Int?) {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let host = entry[entry.index(after: entry.startIndex)..<close]
            let after = entry[entry.index(after: close)...]
            return (host, after.hasPrefix(":") ? Int(after.dropFirst()) : nil)
        }
        // Without brackets a colon starts a port only when it is the only one; more make an IPv6 address.
        if let colon = entry.firstIndex(of: ":"), colon == entry.lastIndex(of: ":") {
            return (entry[..<colon], Int(entry[entry.index(after: colon)...]))
        }
        return (entry, nil)
    }

    /// A host as compared by `no_proxy`: lower case, without a trailing dot or IPv6 brackets.
    private static func normalized(_ host: String) -> String {
        var host = Substring(host.lowercased())
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        if host.hasSuffix(".") { host = host.dropLast() }
        return String(host)
    }
}
