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
    /// The permessage-deflate settings offered, if any.
    public let compression: PerMessageDeflateConfiguration?

    /// What the server's answer settled.
    public struct Agreement: Sendable, Hashable {
        /// The subprotocol the server selected, if any.
        public var subprotocol: String?
        /// permessage-deflate as agreed, if the server accepted the offer.
        public var compression: PerMessageDeflateParameters?
    }

    /// Creates a handshake with a fresh random key.
    /// - Parameters:
    ///   - subprotocols: the subprotocols to offer; default none.
    ///   - compression: the permessage-deflate settings to offer; default `nil`, no offer.
    ///   - randomSource: where the key's bytes come from.
    public init(subprotocols: [String] = [], compression: PerMessageDeflateConfiguration? = nil,
                randomSource: inout some RandomNumberGenerator) {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in bytes.indices { bytes[index] = randomSource.next() }
        self.key = Data(bytes).base64EncodedString()
        self.subprotocols = subprotocols
        self.compression = compression
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
        if let compression {
            headers.add(name: "Sec-WebSocket-Extensions",
                        value: PerMessageDeflateNegotiation.offer(compression).description)
        }
        headers.add(contentsOf: extraHeaders)
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestTarget, headers: headers)
    }

    /// Validates the server's answer (RFC 6455 §4.1, the client's checks; RFC 7692 §7.1 for
    /// compression) and returns what it settled.
    public func validate(_ response: HTTPResponseHead) throws(HandshakeError) -> Agreement {
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
        let compression = try validateExtensions(response)
        let selected = response.headers["sec-websocket-protocol"]
        guard let subprotocol = selected.first else { return Agreement(subprotocol: nil, compression: compression) }
        guard selected.count == 1, subprotocols.contains(subprotocol) else {
            throw HandshakeError(status: response.status, reason: "the server selected a subprotocol that was not offered")
        }
        return Agreement(subprotocol: subprotocol, compression: compression)
    }

    /// RFC 6455 §4.1: an extension the client did not offer fails the connection; so does an
    /// answer to the permessage-deflate offer that the offer does not allow (RFC 7692 §7.1).
    private func validateExtensions(_ response: HTTPResponseHead) throws(HandshakeError) -> PerMessageDeflateParameters? {
        let selected: [WebSocketExtension]
        do {
            selected = try WebSocketExtension.parse(response.headers)
        } catch {
            throw HandshakeError(status: response.status, reason: error.description)
        }
        guard let first = selected.first else { return nil }
        guard selected.count == 1, first.name.lowercased() == PerMessageDeflateNegotiation.extensionName,
              let compression
        else {
            throw HandshakeError(status: response.status, reason: "the server selected an extension that was not offered")
        }
        do {
            return try PerMessageDeflateNegotiation.validate(response: first, offered: compression)
        } catch {
            throw HandshakeError(status: response.status, reason: error.description)
        }
    }
}
