#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOHTTP1

/// The client's side of the opening handshake (RFC 6455 §4.1): the upgrade request and the
/// validation of the server's answer.
public struct ClientHandshake: Sendable {
    /// The `Sec-WebSocket-Key` sent: 16 random bytes in base64.
    public let key: String
    /// The subprotocols offered, in order of preference.
    public let subprotocols: [String]

    /// Creates a handshake with a fresh random key.
    /// - Parameters:
    ///   - subprotocols: the subprotocols to offer; default none.
    ///   - randomSource: where the key's bytes come from.
    public init(subprotocols: [String] = [], randomSource: inout some RandomNumberGenerator) {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in bytes.indices { bytes[index] = randomSource.next() }
        self.key = Data(bytes).base64EncodedString()
        self.subprotocols = subprotocols
    }

    /// The upgrade request for `url`, with `extraHeaders` added after the protocol's own.
    public func requestHead(for url: WebSocketURL, extraHeaders: HTTPHeaders = [:]) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Key", value: key)
        headers.add(name: "Sec-WebSocket-Version", value: ServerHandshake.supportedVersion)
        if !subprotocols.isEmpty {
            headers.add(name: "Sec-WebSocket-Protocol", value: subprotocols.joined(separator: ", "))
        }
        headers.add(contentsOf: extraHeaders)
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestTarget, headers: headers)
    }

    /// Validates the server's answer (RFC 6455 §4.1, the client's checks) and returns the
    /// subprotocol it selected, if any.
    public func validate(_ response: HTTPResponseHead) throws(HandshakeError) -> String? {
        guard response.status == .switchingProtocols else {
            throw HandshakeError(status: response.status, reason: "the server did not switch protocols")
        }
        guard HandshakeError.headers(response.headers, name: "upgrade", containToken: "websocket") else {
            throw HandshakeError(status: response.status, reason: "the answer's Upgrade header is not websocket")
        }
        guard HandshakeError.headers(response.headers, name: "connection", containToken: "upgrade") else {
            throw HandshakeError(status: response.status, reason: "the answer's Connection header is not upgrade")
        }
        guard response.headers["sec-websocket-accept"] == [ServerHandshake.acceptValue(forKey: key)] else {
            throw HandshakeError(status: response.status, reason: "Sec-WebSocket-Accept does not match the key")
        }
        guard response.headers[canonicalForm: "sec-websocket-extensions"].isEmpty else {
            throw HandshakeError(status: response.status, reason: "the server selected an extension that was not offered")
        }
        let selected = response.headers["sec-websocket-protocol"]
        guard let subprotocol = selected.first else { return nil }
        guard selected.count == 1, subprotocols.contains(subprotocol) else {
            throw HandshakeError(status: response.status, reason: "the server selected a subprotocol that was not offered")
        }
        return subprotocol
    }
}
