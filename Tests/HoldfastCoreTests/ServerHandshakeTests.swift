import HoldfastCore
import HoldfastTestSupport
import NIOHTTP1
import Testing


/// A valid upgrade request (RFC 6455 §1.3/§4.1), with `changes` applied to its headers.
private func request(method: HTTPMethod = .GET, version: HTTPVersion = .http1_1,
                     removing removed: [String] = [], replacing replaced: [(String, String)] = [],
                     adding added: [(String, String)] = []) -> HTTPRequestHead
{
    var headers: HTTPHeaders = [
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": sampleKey,
        "Origin": "http://example.com",
        "Sec-WebSocket-Protocol": "chat, superchat",
        "Sec-WebSocket-Version": "13",
    ]
    for name in removed { headers.remove(name: name) }
    for (name, value) in replaced { headers.replaceOrAdd(name: name, value: value) }
    for (name, value) in added { headers.add(name: name, value: value) }
    return HTTPRequestHead(version: version, method: method, uri: "/chat", headers: headers)
}

private func failure(_ result: Result<String, HandshakeError>) -> HandshakeError? {
    if case .failure(let error) = result { return error }
    return nil
}

@Suite("ServerHandshake — RFC 6455 §4.2 the server's opening handshake")
struct ServerHandshakeTests {
    @Test("§1.3: the accept value of the RFC's example key")
    func acceptValueOfRFCExample() {
        #expect(ServerHandshake.acceptValue(forKey: sampleKey) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("§4.2.1: the RFC's example request is valid and yields its key")
    func validRequest() {
        #expect(ServerHandshake.validate(request()) == .success(sampleKey))
        #expect(ServerHandshake.isUpgradeRequest(request()))
    }

    @Test("header names and tokens are case-insensitive and may sit in lists")
    func tokenLists() {
        let head = request(replacing: [("connection", "keep-alive, UPGRADE"), ("upgrade", "WebSocket"),
                                       ("sec-websocket-key", " \(sampleKey) ")])
        #expect(ServerHandshake.validate(head) == .success(sampleKey))
    }

    @Test("spaces and tabs around the key and the version are not part of them (RFC 9110 §5.5)")
    func surroundingWhitespace() {
        let head = request(replacing: [("Sec-WebSocket-Key", "\t \(sampleKey)\t"), ("Sec-WebSocket-Version", " \t13 ")])
        #expect(ServerHandshake.validate(head) == .success(sampleKey))
    }

    @Test("a request that is not a GET gets 405 with Allow: GET")
    func notGet() throws {
        let error = try #require(failure(ServerHandshake.validate(request(method: .POST))))
        #expect(error.status == .methodNotAllowed)
        #expect(error.headers["Allow"] == ["GET"])
    }

    @Test("an HTTP/1.0 request gets 400")
    func http10() throws {
        let error = try #require(failure(ServerHandshake.validate(request(version: .http1_0))))
        #expect(error.status == .badRequest)
        #expect(error.reason == "a WebSocket upgrade needs HTTP/1.1")
    }

    @Test("a request without Host gets 400")
    func missingHost() {
        #expect(failure(ServerHandshake.validate(request(removing: ["Host"])))
                == HandshakeError(status: .badRequest, reason: "missing Host header"))
    }

    @Test("a request whose Upgrade is not websocket gets 400 and is no upgrade request")
    func badUpgrade() {
        let missing = request(removing: ["Upgrade"])
        #expect(!ServerHandshake.isUpgradeRequest(missing))
        #expect(failure(ServerHandshake.validate(missing))
                == HandshakeError(status: .badRequest, reason: "Upgrade header does not name websocket"))
        #expect(!ServerHandshake.isUpgradeRequest(request(replacing: [("Upgrade", "h2c")])))
    }

    @Test("a Connection header without upgrade gets 400",
          arguments: ["keep-alive", "close", "upgraded", ""])
    func connectionWithoutUpgrade(value: String) {
        #expect(failure(ServerHandshake.validate(request(replacing: [("Connection", value)])))
                == HandshakeError(status: .badRequest, reason: "Connection header does not name upgrade"))
    }

    @Test("§4.4: another version gets 426 Upgrade Required with Sec-WebSocket-Version: 13",
          arguments: [["8"], ["7"], ["14"], [], ["13", "8"]])
    func wrongVersion(versions: [String]) throws {
        var head = request(removing: ["Sec-WebSocket-Version"])
        for version in versions { head.headers.add(name: "Sec-WebSocket-Version", value: version) }
        let error = try #require(failure(ServerHandshake.validate(head)))
        #expect(error.status == .upgradeRequired)
        #expect(error.headers["Sec-WebSocket-Version"] == ["13"])
    }

    @Test("§4.2.1: a key that is not 16 bytes in base64 gets 400",
          arguments: [
              [] as [String],
              ["not base64!"],
              ["dGhlIHNhbXBsZSBub25j"],  // 14 bytes
              ["dGhlIHNhbXBsZSBub25jZSE="],  // 17 bytes
              [""],
              [" \t "],
              ["dGhlIHNh YnBsZSBub25jZQ=="],  // a space inside is not trimmed
              [sampleKey, sampleKey],
          ])
    func badKey(keys: [String]) {
        var head = request(removing: ["Sec-WebSocket-Key"])
        for key in keys { head.headers.add(name: "Sec-WebSocket-Key", value: key) }
        #expect(failure(ServerHandshake.validate(head))
                == HandshakeError(status: .badRequest, reason: "Sec-WebSocket-Key is not 16 bytes in base64"))
    }

    @Test("§4.2.2: the subprotocols offered, in the client's order, across lists and repeated headers")
    func offeredSubprotocols() {
        #expect(ServerHandshake.offeredSubprotocols(request().headers) == ["chat", "superchat"])
        let repeated = request(adding: [("Sec-WebSocket-Protocol", "mqtt")])
        #expect(ServerHandshake.offeredSubprotocols(repeated.headers) == ["chat", "superchat", "mqtt"])
        #expect(ServerHandshake.offeredSubprotocols(request(removing: ["Sec-WebSocket-Protocol"]).headers) == [])
    }

    @Test("§4.2.2: the server picks the client's most preferred protocol it supports")
    func negotiateSubprotocol() {
        #expect(ServerHandshake.negotiateSubprotocol(offered: ["chat", "superchat"], supported: ["superchat", "chat"])
                == "chat")
        #expect(ServerHandshake.negotiateSubprotocol(offered: ["chat", "superchat"], supported: ["superchat"])
                == "superchat")
        #expect(ServerHandshake.negotiateSubprotocol(offered: ["chat"], supported: ["mqtt"]) == nil)
        #expect(ServerHandshake.negotiateSubprotocol(offered: [], supported: ["mqtt"]) == nil)
        #expect(ServerHandshake.negotiateSubprotocol(offered: ["Chat"], supported: ["chat"]) == nil)
    }

    @Test("§4.2.2: the 101 answer's headers")
    func responseHeaders() {
        let headers = ServerHandshake.responseHeaders(key: sampleKey, subprotocol: "chat",
                                                      extraHeaders: ["X-Server": "holdfast"])
        #expect(headers.map { [$0.name, $0.value] } == [
            ["Upgrade", "websocket"],
            ["Connection", "Upgrade"],
            ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
            ["Sec-WebSocket-Protocol", "chat"],
            ["X-Server", "holdfast"],
        ])
        let bare = ServerHandshake.responseHeaders(key: sampleKey, subprotocol: nil)
        #expect(bare["Sec-WebSocket-Protocol"] == [])
        #expect(bare.count == 3)
    }
}
