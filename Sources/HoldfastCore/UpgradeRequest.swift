import NIOCore
import NIOHTTP1

/// An HTTP upgrade request as a server sees it, for deciding whether to accept it.
public struct UpgradeRequest: Sendable {
    /// The request line and headers as received.
    public var head: HTTPRequestHead
    /// The address of the peer that sent it, when known.
    public var remoteAddress: SocketAddress?

    /// Creates a request from its head and the peer's address.
    ///
    /// The headers are stored at their exact count: NIO's parser reserves room for 16, and a
    /// server keeps each connection's request as long as the connection lives.
    public init(head: HTTPRequestHead, remoteAddress: SocketAddress?) {
        var head = head
        head.headers = HTTPHeaders(head.headers.map { ($0.name, $0.value) })
        self.head = head
        self.remoteAddress = remoteAddress
    }

    /// The request headers.
    public var headers: HTTPHeaders { head.headers }

    /// The path of the request target, without the query.
    public var path: String {
        head.uri.firstIndex(of: "?").map { String(head.uri[..<$0]) } ?? head.uri
    }

    /// The query of the request target without its `?`, if there is one.
    public var query: String? {
        head.uri.firstIndex(of: "?").map { String(head.uri[head.uri.index(after: $0)...]) }
    }

    /// The `Origin` header, which browsers send and a server may check against an allow-list.
    public var origin: String? { head.headers.first(name: "origin") }

    /// The subprotocols the client offers, in its order of preference.
    public var offeredSubprotocols: [String] { ServerHandshake.offeredSubprotocols(head.headers) }
}
