import NIOCore
import NIOHTTP1

/// A server's answer to an ordinary HTTP request (one that asks for no upgrade): a status page,
/// a health check, documentation.
public struct PlainHTTPResponse: Sendable {
    /// The status.
    public var status: HTTPResponseStatus
    /// Headers; `Content-Length` and `Connection: close` are added.
    public var headers: HTTPHeaders
    /// The body.
    public var body: ByteBuffer

    /// Creates a response.
    public init(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a text body of the given content type (UTF-8).
    public init(status: HTTPResponseStatus = .ok, contentType: String, body: String) {
        self.init(status: status, headers: ["Content-Type": "\(contentType); charset=utf-8"],
                  body: ByteBuffer(string: body))
    }
}
