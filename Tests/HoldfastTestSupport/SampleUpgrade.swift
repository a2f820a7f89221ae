/// The sample key of RFC 6455 §1.3, whose accept value the RFC gives:
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
public let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

/// A valid upgrade request with ``sampleKey``, as a string to send byte for byte.
/// - Parameters:
///   - host: the `Host` header; a test over loopback passes `127.0.0.1:PORT`.
///   - extensions: a `Sec-WebSocket-Extensions` offer, if any.
///   - extraHeaders: more header lines, each ending in CRLF.
public func upgradeRequest(host: String = "example.com", path: String = "/", version: String = "13",
                           extensions: String? = nil, extraHeaders: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: \(sampleKey)\r\nSec-WebSocket-Version: \(version)\r\n"
        + (extensions.map { "Sec-WebSocket-Extensions: \($0)\r\n" } ?? "") + extraHeaders + "\r\n"
}

/// A failure a test reports with a sentence of its own.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
