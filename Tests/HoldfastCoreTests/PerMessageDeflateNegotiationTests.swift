import HoldfastCore
import HoldfastTestSupport
import NIOHTTP1
import Testing

private func offers(_ values: String...) -> [WebSocketExtension] {
    var headers = HTTPHeaders()
    for value in values { headers.add(name: "Sec-WebSocket-Extensions", value: value) }
    return WebSocketExtension.parseLeniently(headers)
}

private func answer(_ value: String) throws -> WebSocketExtension {
    try #require(try WebSocketExtension.parse(["Sec-WebSocket-Extensions": value]).first)
}

@Suite("Sec-WebSocket-Extensions — RFC 6455 §9.1 syntax")
struct WebSocketExtensionTests {
    @Test("entries across headers and commas, parameters with and without values, quoted values")
    func parsesEntries() throws {
        var headers = HTTPHeaders()
        headers.add(name: "Sec-WebSocket-Extensions", value: "permessage-deflate; client_max_window_bits, foo")
        headers.add(name: "sec-websocket-extensions", value: "permessage-deflate ;server_max_window_bits=\"10\"")
        let entries = try WebSocketExtension.parse(headers)
        #expect(entries == [
            WebSocketExtension(name: "permessage-deflate", parameters: [.init("client_max_window_bits")]),
            WebSocketExtension(name: "foo"),
            WebSocketExtension(name: "permessage-deflate", parameters: [.init("server_max_window_bits", value: "10")]),
        ])
        #expect(entries[2].description == "permessage-deflate; server_max_window_bits=10")
    }

    @Test("broken syntax is an error when parsing strictly, and the entry is dropped when leniently",
          arguments: ["permessage-deflate; =1", "per message", "permessage-deflate; a=b c", "; x"])
    func brokenSyntax(value: String) {
        #expect(throws: WebSocketExtension.SyntaxError.self) {
            try WebSocketExtension.parse(["Sec-WebSocket-Extensions": value])
        }
        #expect(offers(value, "permessage-deflate") == [WebSocketExtension(name: "permessage-deflate")])
    }
}

@Suite("permessage-deflate negotiation — RFC 7692 §5 and §7.1")
struct PerMessageDeflateNegotiationTests {
    private let defaults = PerMessageDeflateConfiguration()

    @Test("a browser's offer is accepted with a bare answer; the server compresses with its own smaller window")
    func browserOffer() throws {
        let (response, agreed) = try #require(
            PerMessageDeflateNegotiation.accept(offers: offers("permessage-deflate; client_max_window_bits"),
                                                configuration: defaults))
        #expect(response.description == "permessage-deflate")
        #expect(agreed == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 15))
    }

    @Test("§7.1.2.1: a limited server window is answered with a value no larger")
    func serverWindowLimit() throws {
        let (response, agreed) = try #require(
            PerMessageDeflateNegotiation.accept(offers: offers("permessage-deflate; server_max_window_bits=10"),
                                                configuration: defaults))
        #expect(response.description == "permessage-deflate; server_max_window_bits=10")
        #expect(agreed.ownMaxWindowBits == 10)
        let large = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate; server_max_window_bits=15"), configuration: defaults))
        #expect(large.response.description == "permessage-deflate; server_max_window_bits=12")
    }

    @Test("§7.1.2.2: client_max_window_bits is answered only when offered, within the offer")
    func clientWindow() throws {
        let small = PerMessageDeflateConfiguration(peerMaxWindowBits: 10)
        let offered = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate; client_max_window_bits"), configuration: small))
        #expect(offered.response.description == "permessage-deflate; client_max_window_bits=10")
        #expect(offered.parameters.peerMaxWindowBits == 10)
        let notOffered = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate"), configuration: small))
        #expect(notOffered.response.description == "permessage-deflate")
        #expect(notOffered.parameters.peerMaxWindowBits == 15)
        let limited = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate; client_max_window_bits=9"), configuration: small))
        #expect(limited.response.description == "permessage-deflate; client_max_window_bits=9")
        #expect(limited.parameters.peerMaxWindowBits == 9)
    }

    @Test("§7.1.1: no-context-takeover requested by either side is in the answer")
    func contextTakeover() throws {
        let asked = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            configuration: defaults))
        #expect(asked.response.description
                == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(asked.parameters.ownNoContextTakeover && asked.parameters.peerNoContextTakeover)
        let imposed = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers("permessage-deflate"), configuration: .init(peerNoContextTakeover: true)))
        #expect(imposed.response.description == "permessage-deflate; client_no_context_takeover")
    }

    @Test("§5.1: an invalid offer is declined and the next one considered; none acceptable means no compression",
          arguments: [
              "permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=7",
              "permessage-deflate; server_max_window_bits", "permessage-deflate; client_max_window_bits=x",
              "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; unknown",
              "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
          ])
    func invalidOffersAreDeclined(invalid: String) throws {
        #expect(PerMessageDeflateNegotiation.accept(offers: offers(invalid), configuration: defaults) == nil)
        let fallback = try #require(PerMessageDeflateNegotiation.accept(
            offers: offers(invalid + ", permessage-deflate; client_no_context_takeover"), configuration: defaults))
        #expect(fallback.response.description == "permessage-deflate; client_no_context_takeover")
    }

    @Test("another extension alone is not accepted")
    func otherExtension() {
        #expect(PerMessageDeflateNegotiation.accept(offers: offers("x-webkit-deflate-frame"), configuration: defaults)
                == nil)
    }

    @Test("the client's offer states what its configuration asks for")
    func clientOffer() {
        #expect(PerMessageDeflateNegotiation.offer(defaults).description
                == "permessage-deflate; client_max_window_bits=12")
        let strict = PerMessageDeflateConfiguration(maxWindowBits: 15, peerMaxWindowBits: 10, noContextTakeover: true,
                                                    peerNoContextTakeover: true)
        #expect(PerMessageDeflateNegotiation.offer(strict).description
                == "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits")
    }

    @Test("the client accepts the answers its offer allows")
    func clientAcceptsValidAnswers() throws {
        #expect(try PerMessageDeflateNegotiation.validate(response: answer("permessage-deflate"), offered: defaults)
                == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 15))
        let answered = try PerMessageDeflateNegotiation.validate(
            response: answer("permessage-deflate; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=10"),
            offered: defaults)
        #expect(answered == PerMessageDeflateParameters(ownMaxWindowBits: 9, peerMaxWindowBits: 10,
                                                        peerNoContextTakeover: true))
        // A limit offered but not confirmed: the server may use its full window.
        let unconfirmed = try PerMessageDeflateNegotiation.validate(
            response: answer("permessage-deflate"), offered: PerMessageDeflateConfiguration(peerMaxWindowBits: 10))
        #expect(unconfirmed.peerMaxWindowBits == 15)
    }

    @Test("the client refuses answers its offer does not allow",
          arguments: [
              ("permessage-deflate; client_max_window_bits", PerMessageDeflateConfiguration()),
              ("permessage-deflate; mystery", PerMessageDeflateConfiguration()),
              ("permessage-deflate; server_max_window_bits=12", PerMessageDeflateConfiguration(peerMaxWindowBits: 10)),
              ("permessage-deflate", PerMessageDeflateConfiguration(peerNoContextTakeover: true)),
              ("permessage-deflate; client_max_window_bits=20", PerMessageDeflateConfiguration()),
          ])
    func clientRefusesInvalidAnswers(value: String, offered: PerMessageDeflateConfiguration) throws {
        let response = try answer(value)
        #expect(throws: PerMessageDeflateNegotiation.ParameterError.self) {
            try PerMessageDeflateNegotiation.validate(response: response, offered: offered)
        }
    }

    @Test("end to end in the handshake: the client's offer, the server's answer, the client's check")
    func handshakeEndToEnd() throws {
        var random = SeededRandomNumberGenerator(seed: 5)
        let client = ClientHandshake(compression: PerMessageDeflateConfiguration(), randomSource: &random)
        let request = client.requestHead(for: try WebSocketURL("ws://example.com/"))
        let configuration = WebSocketConfiguration()
        let (response, serverSide) = try #require(ServerHandshake.negotiateCompression(request.headers,
                                                                                        configuration: configuration))
        #expect(serverSide == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 12))
        let headers = ServerHandshake.responseHeaders(key: client.key, subprotocol: nil, extensions: response)
        let agreement = try client.validate(HTTPResponseHead(version: .http1_1, status: .switchingProtocols,
                                                             headers: headers))
        #expect(agreement.compression == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 15))
        #expect(ServerHandshake.negotiateCompression(request.headers,
                                                     configuration: .init(compression: nil)) == nil)
    }
}
