import Holdfast
import NIOCore
import Testing

/// Connections through an HTTP `CONNECT` proxy (``TestProxy``), plain and with TLS.
@Suite(.timeLimit(.minutes(1)))
struct ProxyTests {
    func client(proxy: HTTPProxy?, tls: WebSocketClientTLS = .init()) -> WebSocketClientConfiguration {
        WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5), tls: tls,
                                     proxy: proxy)
    }

    @Test("ws:// through the proxy: one tunnel, a CONNECT naming the server, and the echo comes back")
    func plainThroughProxy() async throws {
        try await TestProxy.with { proxy in
            try await withServer(handler: echo) { port in
                let received = try await TLSTests.echoed(
                    [.text("tunnelled")], url: "ws://127.0.0.1:\(port)/",
                    configuration: client(proxy: try HTTPProxy(url: proxy.url())))
                #expect(received == [.text("tunnelled")])
                #expect(proxy.tunnelsOpened == 1)
                let head = try #require(proxy.requestHeads.first)
                #expect(head.hasPrefix("CONNECT 127.0.0.1:\(port) HTTP/1.1\r\nHost: 127.0.0.1:\(port)"), "\(head)")
                #expect(!head.lowercased().contains("proxy-authorization"))
            }
        }
    }

    @Test("wss:// through the proxy: TLS runs inside the tunnel, verified against the URL's host")
    func tlsThroughProxy() async throws {
        let certificates = try TestCertificates.shared()
        var server = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        server.tls = try WebSocketServerTLS(certificateChainFile: certificates.serverCertificate,
                                            privateKeyFile: certificates.serverKey)
        try await TestProxy.with { proxy in
            try await withServer(configuration: server, handler: echo) { port in
                let tls = try WebSocketClientTLS(trustRootsFile: certificates.caFile)
                let received = try await TLSTests.echoed(
                    [.binary(pattern(50_000))], url: "wss://localhost:\(port)/",
                    configuration: client(proxy: try HTTPProxy(url: proxy.url()), tls: tls))
                #expect(received == [.binary(pattern(50_000))])
                #expect(proxy.tunnelsOpened == 1)
                #expect(proxy.requestHeads.first?.hasPrefix("CONNECT localhost:\(port) HTTP/1.1") == true)
            }
        }
    }

    @Test("wss:// to an IP address through a proxy is refused before connecting: it could not be verified")
    func tlsToAnAddressThroughProxy() async throws {
        try await TestProxy.with { proxy in
            do {
                _ = try await TLSTests.echoed([.text("unverifiable")], url: "wss://127.0.0.1:1/",
                                              configuration: client(proxy: try HTTPProxy(url: proxy.url())))
                Issue.record("connected")
            } catch let error as TLSHandshakeError {
                #expect(error.description.contains("cannot be verified through a proxy; use a host name"))
            }
            #expect(proxy.requestHeads.isEmpty)
        }
    }

    @Test("credentials from the proxy URL go out as Proxy-Authorization: Basic, and the proxy lets them through")
    func credentials() async throws {
        // base64("alice:s3cr@t") — the password's @ is percent-encoded in the URL.
        let expected = "Basic YWxpY2U6czNjckB0"
        try await TestProxy.with(requiredAuthorization: expected) { proxy in
            try await withServer(handler: echo) { port in
                let received = try await TLSTests.echoed(
                    [.text("authorised")], url: "ws://127.0.0.1:\(port)/",
                    configuration: client(proxy: try HTTPProxy(url: proxy.url(userinfo: "alice:s3cr%40t"))))
                #expect(received == [.text("authorised")])
                #expect(proxy.requestHeads.first?.contains("\r\nProxy-Authorization: \(expected)") == true)
            }
        }
    }

    @Test("a 407 from the proxy is an HTTPProxyError naming the proxy and the status",
          arguments: [nil, "alice:wrong"])
    func proxyAuthenticationRequired(userinfo: String?) async throws {
        try await TestProxy.with(requiredAuthorization: "Basic YWxpY2U6czNjckB0") { proxy in
            try await withServer(handler: echo) { port in
                do {
                    _ = try await TLSTests.echoed(
                        [.text("refused")], url: "ws://127.0.0.1:\(port)/",
                        configuration: client(proxy: try HTTPProxy(url: proxy.url(userinfo: userinfo))))
                    Issue.record("the proxy let the connection through")
                } catch let error as HTTPProxyError {
                    #expect(error.status == 407)
                    #expect(error.proxy == "127.0.0.1:\(proxy.port)")
                    #expect(error.description.hasPrefix(
                        "proxy 127.0.0.1:\(proxy.port) (CONNECT 127.0.0.1:\(port)) refused with HTTP 407 Proxy Authentication Required"),
                            "\(error)")
                }
                #expect(proxy.tunnelsOpened == 0)
            }
        }
    }

    @Test("a target the proxy cannot reach is its 502, as an HTTPProxyError")
    func badGateway() async throws {
        try await TestProxy.with { proxy in
            // Port 1 on loopback: nothing listens there.
            do {
                _ = try await TLSTests.echoed([.text("nowhere")], url: "ws://127.0.0.1:1/",
                                              configuration: client(proxy: try HTTPProxy(url: proxy.url())))
                Issue.record("connected to port 1")
            } catch let error as HTTPProxyError {
                #expect(error.status == 502)
            }
        }
    }

    @Test("no_proxy exempts the server: the connection goes direct; without it, through the proxy",
          arguments: [("127.0.0.1", 0), ("", 1)])
    func noProxyBypasses(noProxy: String, expectedTunnels: Int) async throws {
        try await TestProxy.with { proxy in
            try await withServer(handler: echo) { port in
                let url = "ws://127.0.0.1:\(port)/"
                let environment = ["http_proxy": proxy.url(), "no_proxy": noProxy]
                let chosen = try HTTPProxy.fromEnvironment(environment, for: try WebSocketURL(url))
                let received = try await TLSTests.echoed([.text("routed")], url: url,
                                                         configuration: client(proxy: chosen))
                #expect(received == [.text("routed")])
                #expect(proxy.tunnelsOpened == expectedTunnels)
            }
        }
    }
}
