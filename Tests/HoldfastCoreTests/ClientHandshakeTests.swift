#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HoldfastCore
import HoldfastTestSupport
import NIOHTTP1
import Testing

private func handshake(subprotocols: [String] = [], seed: UInt64 = 99) -> ClientHandshake {
    var random = SeededRandomNumberGenerator(seed: seed)
    return ClientHandshake(subprotocols: subprotocols, randomSource: &random)
}

/// The answer a conforming server gives to `handshake`, with `changes` applied to its headers.
private func response(to handshake: ClientHandshake, status: HTTPResponseStatus = .switchingProtocols,
                      subprotocol: String? = nil, replacing replaced: [(String, String)] = [],
                      adding added: [(String, String)] = []) -> HTTPResponseHead
{
    var headers = ServerHandshake.responseHeaders(key: handshake.key, subprotocol: subprotocol)
    for (name, value) in replaced { headers.replaceOrAdd(name: name, value: value) }
    for (name, value) in added { headers.add(name: name, value: value) }
    return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
}

@Suite("ClientHandshake — RFC 6455 §4.1 the client's opening handshake")
struct ClientHandshakeTests {
    @Test("the key is 16 bytes from the random source, in base64")
    func key() throws {
        let first = handshake()
        let decoded = try #require(Data(base64Encoded: first.key))
        #expect(decoded.count == 16)
        #expect(first.key.count == 24)
        #expect(handshake().key == first.key)
        #expect(handshake(seed: 100).key != first.key)
    }

    @Test("the upgrade request carries the protocol's headers and passes the server's checks")
    func requestHead() throws {
        let client = handshake(subprotocols: ["chat", "superchat"])
        let url = try WebSocketURL("ws://example.com:8080/chat?room=1")
        let head = client.requestHead(for: url, extraHeaders: ["Origin": "http://example.com"])
        #expect(head.method == .GET)
        #expect(head.version == .http1_1)
        #expect(head.uri == "/chat?room=1")
        #expect(head.headers.map { [$0.name, $0.value] } == [
            ["Host", "example.com:8080"],
            ["Upgrade", "websocket"],
            ["Connection", "Upgrade"],
            ["Sec-WebSocket-Key", client.key],
            ["Sec-WebSocket-Version", "13"],
            ["Sec-WebSocket-Protocol", "chat, superchat"],
            ["Origin", "http://example.com"],
        ])
        #expect(ServerHandshake.validate(head) == .success(client.key))
        #expect(ServerHandshake.offeredSubprotocols(head.headers) == ["chat", "superchat"])
        #expect(handshake().requestHead(for: url).headers["Sec-WebSocket-Protocol"] == [])
    }

    @Test("a conforming answer is accepted, with the subprotocol it selected")
    func validAnswer() throws {
        let plain = handshake()
        #expect(try plain.validate(response(to: plain)).subprotocol == nil)
        let client = handshake(subprotocols: ["chat", "superchat"])
        #expect(try client.validate(response(to: client, subprotocol: "superchat")).subprotocol == "superchat")
        let tokens = response(to: client, replacing: [("Upgrade", "WebSocket"), ("Connection", "keep-alive, upgrade")])
        #expect(try client.validate(tokens).subprotocol == nil)
    }

    @Test("an answer other than 101 is an error carrying its status",
          arguments: [HTTPResponseStatus.ok, .badRequest, .unauthorized, .forbidden, .notFound, .upgradeRequired,
                      .internalServerError, .serviceUnavailable])
    func notSwitchingProtocols(status: HTTPResponseStatus) {
        let client = handshake()
        let error = #expect(throws: HandshakeError.self) {
            try client.validate(response(to: client, status: status))
        }
        #expect(error?.status == status)
        #expect(error?.reason == "the server did not switch protocols")
    }

    @Test("a wrong or missing Sec-WebSocket-Accept is an error")
    func wrongAccept() {
        let client = handshake()
        let other = handshake(seed: 1234)
        for head in [response(to: other),
                     response(to: client, replacing: [("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]),
                     response(to: client, adding: [("Sec-WebSocket-Accept",
                                                    ServerHandshake.acceptValue(forKey: client.key))])]
        {
            let error = #expect(throws: HandshakeError.self) { try client.validate(head) }
            #expect(error?.reason == "Sec-WebSocket-Accept does not match the key")
            #expect(error?.status == .switchingProtocols)
        }
        var missing = response(to: client)
        missing.headers.remove(name: "Sec-WebSocket-Accept")
        #expect(throws: HandshakeError(status: .switchingProtocols,
                                       reason: "Sec-WebSocket-Accept does not match the key")) {
            try client.validate(missing)
        }
    }

    @Test("a 101 without Upgrade: websocket or Connection: upgrade is an error")
    func missingUpgradeHeaders() {
        let client = handshake()
        #expect(throws: HandshakeError(status: .switchingProtocols,
                                       reason: "the answer's Upgrade header is not websocket")) {
            try client.validate(response(to: client, replacing: [("Upgrade", "h2c")]))
        }
        #expect(throws: HandshakeError(status: .switchingProtocols,
                                       reason: "the answer's Connection header is not upgrade")) {
            try client.validate(response(to: client, replacing: [("Connection", "keep-alive")]))
        }
    }

    @Test("§4.1: an extension that was not offered is an error")
    func unofferedExtension() {
        let client = handshake()
        #expect(throws: HandshakeError(status: .switchingProtocols,
                                       reason: "the server selected an extension that was not offered")) {
            try client.validate(response(to: client, adding: [("Sec-WebSocket-Extensions", "permessage-deflate")]))
        }
    }

    @Test("§4.1: a subprotocol that was not offered is an error")
    func unofferedSubprotocol() {
        let expected = HandshakeError(status: .switchingProtocols,
                                      reason: "the server selected a subprotocol that was not offered")
        let client = handshake(subprotocols: ["chat"])
        #expect(throws: expected) { try client.validate(response(to: client, subprotocol: "superchat")) }
        let none = handshake()
        #expect(throws: expected) { try none.validate(response(to: none, subprotocol: "chat")) }
        #expect(throws: expected) {
            try client.validate(response(to: client, subprotocol: "chat",
                                         adding: [("Sec-WebSocket-Protocol", "chat")]))
        }
    }

    @Test("the error description names the reason and the status")
    func errorDescription() {
        #expect(HandshakeError(status: .forbidden, reason: "no").description
                == "WebSocket handshake failed: no (HTTP 403 Forbidden)")
        #expect(HandshakeError(status: nil, reason: "no").description == "WebSocket handshake failed: no")
    }
}
