import Foundation
import HoldfastCore
import NIOHTTP1

/// The limits a browser page needs before it sends: a page cannot read the upgrade response's
/// `Holdfast-Max-*` headers, so servers also answer them as JSON at ``path``. `holdfast.js`
/// fetches it before each connection and refuses, before sending, a message that would be closed
/// with 1009.
public struct BrowserLimits: Encodable, Sendable, Hashable {
    /// Where servers answer with the limits.
    public static let path = "/limits.json"
    /// The largest message the server accepts, in bytes (more: 1009).
    public var maxMessageSize: Int
    /// The largest frame the server accepts, in bytes (more: 1009).
    public var maxFrameSize: Int
    /// What the server serves (for `holdfast serve`: echo, broadcast, files or channels); `nil`
    /// when it does not say.
    public var mode: String?
    /// The subprotocols the server selects.
    public var subprotocols: [String]

    /// Limits as given.
    public init(maxMessageSize: Int, maxFrameSize: Int, mode: String? = nil, subprotocols: [String] = []) {
        self.maxMessageSize = maxMessageSize
        self.maxFrameSize = maxFrameSize
        self.mode = mode
        self.subprotocols = subprotocols
    }

    /// The limits of `configuration`.
    public init(_ configuration: WebSocketConfiguration, mode: String? = nil, subprotocols: [String] = []) {
        self.init(maxMessageSize: configuration.maxMessageSize, maxFrameSize: configuration.effectiveMaxFrameSize,
                  mode: mode, subprotocols: subprotocols)
    }

    /// The JSON answer, never cached (a restarted server may have other limits). Readable from
    /// pages of other origins when `allowedOrigins` is `nil` (any origin may connect); else only
    /// from the origin `request` names when it is one of them, as for the upgrade itself.
    public func response(to request: HTTPRequestHead, allowedOrigins: [String]?) -> PlainHTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var response = PlainHTTPResponse(contentType: "application/json", body: json)
        response.headers.add(name: "Cache-Control", value: "no-store")
        if let allowedOrigins {
            response.headers.add(name: "Vary", value: "Origin")
            if let origin = request.headers.first(name: "Origin"), allowedOrigins.contains(origin) {
                response.headers.add(name: "Access-Control-Allow-Origin", value: origin)
            }
        } else {
            response.headers.add(name: "Access-Control-Allow-Origin", value: "*")
        }
        return response
    }
}
