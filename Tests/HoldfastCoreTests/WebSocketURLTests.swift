import HoldfastCore
import Testing

@Suite("WebSocketURL — RFC 6455 §3 WebSocket URIs")
struct WebSocketURLTests {
    @Test("ws and wss with their default ports")
    func schemesAndDefaultPorts() throws {
        let plain = try WebSocketURL("ws://example.com")
        #expect(!plain.isSecure)
        #expect(plain.host == "example.com")
        #expect(plain.port == 80)
        #expect(plain.path == "/")
        #expect(plain.query == nil)
        #expect(plain.requestTarget == "/")
        #expect(plain.hostHeader == "example.com")

        let secure = try WebSocketURL("wss://example.com/")
        #expect(secure.isSecure)
        #expect(secure.port == 443)
        #expect(secure.hostHeader == "example.com")

        #expect(try WebSocketURL("WSS://Example.COM").isSecure)
        #expect(try WebSocketURL("Ws://h").port == 80)
    }

    @Test("explicit ports; the Host header names them unless they are the default")
    func explicitPorts() throws {
        let custom = try WebSocketURL("ws://example.com:9001")
        #expect(custom.port == 9001)
        #expect(custom.hostHeader == "example.com:9001")
        #expect(try WebSocketURL("ws://example.com:80").hostHeader == "example.com")
        #expect(try WebSocketURL("wss://example.com:443").hostHeader == "example.com")
        #expect(try WebSocketURL("wss://example.com:80").hostHeader == "example.com:80")
        #expect(try WebSocketURL("ws://example.com:443").hostHeader == "example.com:443")
        #expect(try WebSocketURL("ws://h:1").port == 1)
        #expect(try WebSocketURL("ws://h:65535").port == 65535)
    }

    @Test("host names and IPv4 addresses")
    func hosts() throws {
        #expect(try WebSocketURL("ws://localhost:8080/").host == "localhost")
        #expect(try WebSocketURL("ws://sub.domain.example.org/x").host == "sub.domain.example.org")
        let ipv4 = try WebSocketURL("ws://127.0.0.1:9001/runCase?case=1&agent=holdfast")
        #expect(ipv4.host == "127.0.0.1")
        #expect(ipv4.port == 9001)
        #expect(ipv4.hostHeader == "127.0.0.1:9001")
        #expect(ipv4.path == "/runCase")
        #expect(ipv4.query == "case=1&agent=holdfast")
        #expect(ipv4.requestTarget == "/runCase?case=1&agent=holdfast")
    }

    @Test("bracketed IPv6 addresses, with and without a port")
    func ipv6() throws {
        let withPort = try WebSocketURL("ws://[::1]:9001/path")
        #expect(withPort.host == "::1")
        #expect(withPort.port == 9001)
        #expect(withPort.path == "/path")
        #expect(withPort.hostHeader == "[::1]:9001")

        let withoutPort = try WebSocketURL("wss://[2001:db8::42]")
        #expect(withoutPort.host == "2001:db8::42")
        #expect(withoutPort.port == 443)
        #expect(withoutPort.path == "/")
        #expect(withoutPort.hostHeader == "[2001:db8::42]")

        let withQuery = try WebSocketURL("ws://[fe80::1]?x=y")
        #expect(withQuery.host == "fe80::1")
        #expect(withQuery.port == 80)
        #expect(withQuery.requestTarget == "/?x=y")
    }

    @Test("paths and queries make the request target")
    func pathAndQuery() throws {
        let url = try WebSocketURL("ws://example.com/a/b/c?x=1&y=%20")
        #expect(url.path == "/a/b/c")
        #expect(url.query == "x=1&y=%20")
        #expect(url.requestTarget == "/a/b/c?x=1&y=%20")

        let queryOnly = try WebSocketURL("ws://example.com?q")
        #expect(queryOnly.path == "/")
        #expect(queryOnly.query == "q")
        #expect(queryOnly.requestTarget == "/?q")

        let emptyQuery = try WebSocketURL("ws://example.com/chat?")
        #expect(emptyQuery.query == "")
        #expect(emptyQuery.requestTarget == "/chat?")

        #expect(try WebSocketURL("ws://example.com:81/chat").path == "/chat")
    }

    @Test("description")
    func description() throws {
        #expect(try WebSocketURL("ws://example.com/chat?x").description == "ws://example.com:80/chat?x")
        #expect(try WebSocketURL("wss://[::1]:8443").description == "wss://[::1]:8443/")
    }

    @Test("strings that are not WebSocket URLs",
          arguments: [
              "http://example.com", "https://example.com", "example.com", "ws:/example.com", "", "ws:",
              "ws://example.com/chat#fragment", "ws://example.com#",
              "ws://example.com:0", "ws://example.com:65536", "ws://example.com:port", "ws://example.com:",
              "ws://example.com:-1", "ws://example.com:99999999999999999999",
              "ws://", "ws:///path", "ws://:80/", "ws://?q", "wss://[]:443",
              "ws://[::1", "ws://[::1]x", "ws://[::1]:", "ws://[example.com]",
              "ws://user:password@example.com/",
              // IPv6 without brackets, and ports that are not plain ASCII digits.
              "ws://::1", "ws://::1/", "ws://fe80::1:9001/", "ws://2001:db8::1",
              "ws://example.com:+80", "ws://example.com:٨٠", "ws://example.com: 80",
          ])
    func invalid(string: String) {
        #expect(throws: WebSocketURL.ParseError.self) { try WebSocketURL(string) }
    }

    @Test("errors name what is wrong",
          arguments: [
              ("http://x", "'http://x' is not a ws:// or wss:// URL"),
              ("ws://", "'ws://' has no host"),
              ("ws://x:70000", "'70000' is not a port number (1-65535)"),
              ("ws://x/#f", "a WebSocket URL has no fragment: 'ws://x/#f'"),
              ("ws://[::1", "unclosed '[' in the host of 'ws://[::1'"),
              ("ws://[x]", "'[x]' is not an IPv6 address"),
              ("ws://::1/", "an IPv6 address must be in brackets in 'ws://::1/'"),
              ("ws://h:+80", "'+80' is not a port number (1-65535)"),
          ])
    func errorReasons(string: String, reason: String) {
        let error = #expect(throws: WebSocketURL.ParseError.self) { try WebSocketURL(string) }
        #expect(error?.reason == reason)
        #expect(error?.description == reason)
    }
}
