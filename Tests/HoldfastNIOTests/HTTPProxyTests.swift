import HoldfastCore
import HoldfastNIO
import Testing

@Suite struct HTTPProxyTests {
    @Test("proxy URLs: scheme optional, port 80 by default, percent-decoded credentials, IPv6 in brackets")
    func parsing() throws {
        #expect(try HTTPProxy(url: "http://proxy.example:3128") == HTTPProxy(host: "proxy.example", port: 3128))
        #expect(try HTTPProxy(url: "proxy.example:3128/") == HTTPProxy(host: "proxy.example", port: 3128))
        #expect(try HTTPProxy(url: "HTTP://proxy.example") == HTTPProxy(host: "proxy.example", port: 80))
        #expect(try HTTPProxy(url: "http://[::1]:8888") == HTTPProxy(host: "::1", port: 8888))
        let withCredentials = try HTTPProxy(url: "http://us%3Aer:p%40ss:w@10.0.0.1:8080")
        #expect(withCredentials.host == "10.0.0.1")
        #expect(withCredentials.credentials == .init(username: "us:er", password: "p@ss:w"))
        #expect(try HTTPProxy(url: "http://alice@proxy:1").credentials == .init(username: "alice", password: ""))
    }

    @Test("what is not an http proxy URL is refused with a reason", arguments: [
        "https://proxy.example:443", "socks5://proxy:1080", "http://:3128", "http://proxy:0", "http://proxy:99999",
        "http://proxy:80x", "",
    ])
    func invalid(url: String) {
        #expect(throws: HTTPProxy.ParseError.self) { try HTTPProxy(url: url) }
    }

    @Test("Proxy-Authorization is Basic with the base64 of user:password (RFC 7617)")
    func authorization() {
        #expect(HTTPProxy(host: "p", port: 1).authorization == nil)
        let proxy = HTTPProxy(host: "p", port: 1, credentials: .init(username: "user", password: "p:w"))
        #expect(proxy.authorization == "Basic dXNlcjpwOnc=")
        #expect(proxy.description == "p:1", "credentials never appear in the description")
        #expect(HTTPProxy(host: "::1", port: 3128).description == "[::1]:3128")
    }

    @Test("wss:// takes https_proxy, ws:// takes http_proxy, both fall back to all_proxy; lower case first")
    func variables() throws {
        let secure = try WebSocketURL("wss://echo.example/")
        let plain = try WebSocketURL("ws://echo.example/")
        let environment = ["https_proxy": "http://secure:1", "http_proxy": "http://plain:2", "ALL_PROXY": "http://all:3"]
        #expect(try HTTPProxy.fromEnvironment(environment, for: secure)?.host == "secure")
        #expect(try HTTPProxy.fromEnvironment(environment, for: plain)?.host == "plain")
        #expect(try HTTPProxy.fromEnvironment(["ALL_PROXY": "http://all:3"], for: secure)?.host == "all")
        #expect(try HTTPProxy.fromEnvironment(["all_proxy": "http://all:3", "HTTP_PROXY": "http://upper:4"],
                                              for: plain)?.host == "upper")
        #expect(try HTTPProxy.fromEnvironment(["https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"],
                                              for: secure)?.host == "lower")
        #expect(try HTTPProxy.fromEnvironment(["https_proxy": "", "HTTPS_PROXY": "http://upper:2"],
                                              for: secure)?.host == "upper", "an empty value counts as unset")
        #expect(try HTTPProxy.fromEnvironment(["http_proxy": "http://plain:2"], for: secure) == nil)
        #expect(try HTTPProxy.fromEnvironment([:], for: plain) == nil)
    }

    @Test("a malformed variable is an error that names it")
    func malformedVariable() throws {
        let url = try WebSocketURL("wss://a/")
        do {
            _ = try HTTPProxy.fromEnvironment(["HTTPS_PROXY": "socks5://proxy:1080"], for: url)
            Issue.record("a socks5 proxy was accepted")
        } catch {
            #expect(error.reason.hasPrefix("HTTPS_PROXY: "), "\(error)")
        }
    }

    @Test("no_proxy exempts the host, its subdomains, addresses and ports as listed")
    func noProxy() {
        let list = " localhost, .internal.example,*.corp.example, 10.1.2.3, [::1], api.example:8443 ,Mixed.Example."
        let exempt: [(String, Int)] = [
            ("localhost", 80), ("LOCALHOST", 443), ("internal.example", 80), ("a.b.internal.example", 80),
            ("corp.example", 80), ("x.corp.example", 80), ("10.1.2.3", 80), ("::1", 80), ("api.example", 8443),
            ("mixed.example", 80),
        ]
        for (host, port) in exempt {
            #expect(HTTPProxy.isExempt(host: host, port: port, noProxy: list), "\(host):\(port)")
        }
        let proxied: [(String, Int)] = [
            ("example.com", 80), ("notlocalhost", 80), ("xinternal.example", 80), ("10.1.2.4", 80), ("::2", 80),
            ("api.example", 443),
        ]
        for (host, port) in proxied {
            #expect(!HTTPProxy.isExempt(host: host, port: port, noProxy: list), "\(host):\(port)")
        }
        #expect(HTTPProxy.isExempt(host: "anything.example", port: 1, noProxy: "*"))
        #expect(HTTPProxy.isExempt(host: "::1", port: 1, noProxy: "::1"), "IPv6 without brackets")
        #expect(!HTTPProxy.isExempt(host: "anything.example", port: 1, noProxy: ""))
    }

    @Test("no_proxy (or NO_PROXY) turns the environment's proxy off for the hosts it lists")
    func noProxyInEnvironment() throws {
        let environment = ["https_proxy": "http://proxy:3128", "NO_PROXY": "internal.example"]
        #expect(try HTTPProxy.fromEnvironment(environment, for: try WebSocketURL("wss://api.internal.example/")) == nil)
        #expect(try HTTPProxy.fromEnvironment(environment, for: try WebSocketURL("wss://api.example/"))?.port == 3128)
    }

    @Test("a proxy's answer is printed with its control characters escaped")
    func escapedAnswer() {
        let refused = HTTPProxyError.refused(status: 403, reasonPhrase: "Denied\u{1B}[8m", proxy: "p:3128", target: "h:443")
        #expect("\(refused)" == "proxy p:3128 (CONNECT h:443) refused with HTTP 403 Denied\\u{1B}[8m")
        let garbage = HTTPProxyError.invalidResponse("\u{7}\r", proxy: "p:3128", target: "h:443")
        #expect("\(garbage)".hasSuffix("not an HTTP response: \\u{7}\\u{D}"))
    }
}
