import HoldfastCore
import NIOCore
import NIOHTTP1

/// An upgrade request refused before any decision of the application's: the status, the reason
/// (the answer's plain-text body) and the headers. The one list of what a Holdfast server
/// refuses on its own, for its own handshake and for a framework's.
public struct UpgradeRefusal: Error, Sendable {
    /// The answer's status.
    public var status: HTTPResponseStatus
    /// Why, in a sentence: the answer's body.
    public var reason: String
    /// Headers the answer carries (`Retry-After`, `Sec-WebSocket-Version`).
    public var headers: HTTPHeaders

    /// A refusal with `status`, `reason` and `headers`.
    public init(status: HTTPResponseStatus, reason: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// The answer: the reason as plain text, with the headers.
    public var response: PlainHTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "text/plain; charset=utf-8")
        return PlainHTTPResponse(status: status, headers: headers, body: ByteBuffer(string: reason + "\n"))
    }

    /// A request that asks for no upgrade, at a WebSocket endpoint: 426, which tells a browser so.
    public static let notAnUpgrade = UpgradeRefusal(
        status: .upgradeRequired, reason: "this is a WebSocket endpoint",
        headers: ["Upgrade": "websocket", "Sec-WebSocket-Version": ServerHandshake.supportedVersion])
}

extension ServerHandshakeSettings {
    /// Checks a complete request as every Holdfast server does before its decision: an upgrade
    /// (426), a valid one (the core's rules: 400, 426 for the version), one the server takes now
    /// (503, ``admissionRefusal()``) and from an allowed origin (403). Returns the request's
    /// `Sec-WebSocket-Key`, or the refusal.
    public func check(_ head: HTTPRequestHead, request: UpgradeRequest) -> Result<String, UpgradeRefusal> {
        guard ServerHandshake.isUpgradeRequest(head) else { return .failure(.notAnUpgrade) }
        let key: String
        switch ServerHandshake.validate(head) {
        case .success(let validKey):
            key = validKey
        case .failure(let error):
            return .failure(UpgradeRefusal(status: error.status ?? .badRequest, reason: error.reason,
                                           headers: error.headers))
        }
        if let refusal = admissionRefusal() { return .failure(refusal) }
        if let origin = request.origin, !protections.allows(origin: origin) {
            return .failure(UpgradeRefusal(status: .forbidden, reason: "origin \(origin) is not allowed"))
        }
        return .success(key)
    }

    /// Why the server takes no connection now — it is shutting down, or full (503 with
    /// `Retry-After`) — or `nil` when it takes one.
    public func admissionRefusal() -> UpgradeRefusal? {
        if isDraining() {
            return UpgradeRefusal(status: .serviceUnavailable, reason: "the server is shutting down",
                                  headers: ["Retry-After": "1"])
        }
        if isFull() {
            return UpgradeRefusal(status: .serviceUnavailable, reason: "the server has as many connections as it takes",
                                  headers: ["Retry-After": "1"])
        }
        return nil
    }
}
