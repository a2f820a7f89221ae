#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import NIOHTTP1

/// The server's side of the opening handshake (RFC 6455 §4.2): validating an upgrade request and
/// building the `101 Switching Protocols` answer.
public enum ServerHandshake {
    /// The GUID that RFC 6455 §1.3 appends to the key before hashing.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The only version of the protocol there is (RFC 6455 §4.1).
    public static let supportedVersion = "13"

    /// Whether a request asks for a WebSocket upgrade at all (its `Upgrade` header names
    /// `websocket`); other requests are plain HTTP.
    public static func isUpgradeRequest(_ head: HTTPRequestHead) -> Bool {
        HandshakeError.headers(head.headers, name: "upgrade", containToken: "websocket")
    }

    /// Validates an upgrade request against RFC 6455 §4.2.1 and returns its `Sec-WebSocket-Key`.
    ///
    /// A malformed request gets 400 Bad Request; another protocol version gets 426 Upgrade
    /// Required with the version this server speaks (§4.4).
    public static func validate(_ head: HTTPRequestHead) -> Result<String, HandshakeError> {
        guard head.method == .GET else {
            return .failure(HandshakeError(status: .methodNotAllowed, reason: "a WebSocket upgrade must be a GET",
                                           headers: ["Allow": "GET"]))
        }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            return .failure(HandshakeError(status: .badRequest, reason: "a WebSocket upgrade needs HTTP/1.1"))
        }
        guard head.headers.contains(name: "host") else {
            return .failure(HandshakeError(status: .badRequest, reason: "missing Host header"))
        }
        guard isUpgradeRequest(head) else {
            return .failure(HandshakeError(status: .badRequest, reason: "Upgrade header does not name websocket"))
        }
        guard HandshakeError.headers(head.headers, name: "connection", containToken: "upgrade") else {
            return .failure(HandshakeError(status: .badRequest, reason: "Connection header does not name upgrade"))
        }
        let versions = head.headers["sec-websocket-version"]
        guard versions.count == 1, trimmingWhitespace(versions[0]) == supportedVersion else {
            return .failure(HandshakeError(status: .upgradeRequired,
                                           reason: "unsupported Sec-WebSocket-Version; this server speaks 13",
                                           headers: ["Sec-WebSocket-Version": supportedVersion]))
        }
        let keys = head.headers["sec-websocket-key"]
        guard keys.count == 1 else {
            return .failure(HandshakeError(status: .badRequest,
                                           reason: "Sec-WebSocket-Key is not 16 bytes in base64"))
        }
        let key = String(trimmingWhitespace(keys[0]))
        guard let decoded = Data(base64Encoded: key), decoded.count == 16 else {
            return .failure(HandshakeError(status: .badRequest,
                                           reason: "Sec-WebSocket-Key is not 16 bytes in base64"))
        }
        return .success(key)
    }

    /// `value` without the spaces and tabs HTTP allows around a field value (RFC 9110 §5.5).
    /// (Foundation's `trimmingCharacters(in:)` took a twentieth of a handshake's CPU time.)
    static func trimmingWhitespace(_ value: String) -> Substring {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let leading = value.drop(while: isWhitespace)
        guard let last = leading.lastIndex(where: { !isWhitespace($0) }) else { return leading }
        return leading[...last]
    }

    /// The `Sec-WebSocket-Accept` value for a key: base64 of the SHA-1 of the key and the GUID.
    public static func acceptValue(forKey key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Array((key + acceptGUID).utf8))
        return Data(digest).base64EncodedString()
    }

    /// The subprotocols a client offers in `Sec-WebSocket-Protocol`, in its order of preference.
    public static func offeredSubprotocols(_ headers: HTTPHeaders) -> [String] {
        headers[canonicalForm: "sec-websocket-protocol"].map(String.init).filter { !$0.isEmpty }
    }

    /// The first subprotocol the client offered that the server supports, if any (RFC 6455 §4.2.2).
    public static func negotiateSubprotocol(offered: [String], supported: [String]) -> String? {
        offered.first { supported.contains($0) }
    }

    /// The permessage-deflate agreement for a request, when `configuration` enables compression
    /// and the client offered something acceptable: the extension to answer with and what was
    /// agreed. An unacceptable or malformed offer is declined, never fatal (RFC 7692 §5).
    public static func negotiateCompression(_ headers: HTTPHeaders, configuration: WebSocketConfiguration)
        -> (response: WebSocketExtension, parameters: PerMessageDeflateParameters)?
    {
        guard let compression = configuration.compression,
              headers.contains(name: "sec-websocket-extensions") else { return nil }
        return PerMessageDeflateNegotiation.accept(offers: WebSocketExtension.parseLeniently(headers),
                                                   configuration: compression)
    }

    /// The headers of the `101 Switching Protocols` answer.
    public static func responseHeaders(key: String, subprotocol: String?, extensions: WebSocketExtension? = nil,
                                       extraHeaders: HTTPHeaders = [:]) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5 + extraHeaders.count)
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Accept", value: acceptValue(forKey: key))
        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        if let extensions { headers.add(name: "Sec-WebSocket-Extensions", value: extensions.description) }
        headers.add(contentsOf: extraHeaders)
        return headers
    }
}
