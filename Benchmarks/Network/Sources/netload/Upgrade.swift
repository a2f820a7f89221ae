import Foundation
import HoldfastCore
import NIOCore
import NIOHTTP1

/// Where the load goes: a loopback address only.
struct Target: Sendable {
    var host: String
    var port: Int
    var path: String
    var tls: Bool

    init(url: String) throws {
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("ws://") { tls = false; rest = url.dropFirst(5) }
        else if url.hasPrefix("wss://") { tls = true; rest = url.dropFirst(6) }
        else { throw LoadError("URL must start with ws:// or wss://: \(url)") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        rest = rest[..<slash]
        let hostPart: Substring
        let portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw LoadError("bad IPv6 address in \(url)") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            portPart = after.hasPrefix(":") ? after.dropFirst() : nil
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        } else {
            hostPart = rest
            portPart = nil
        }
        host = String(hostPart)
        // Loopback only: this tool is for benchmarks on one machine.
        guard host == "::1" || host.split(separator: ".").first == "127" && host.split(separator: ".").count == 4
        else { throw LoadError("only loopback addresses (127.x.x.x, [::1]) are allowed, not \(host)") }
        guard let port = portPart.map({ Int($0) }) ?? (tls ? 443 : 80), (1...65535).contains(port)
        else { throw LoadError("bad port in \(url)") }
        self.port = port
        self.tls = tls
    }

    var hostHeader: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}

/// The client's side of the opening handshake, over raw bytes (RFC 6455 §4.1).
struct Upgrade {
    let key: String
    let offer: PerMessageDeflateConfiguration?

    init(offer: PerMessageDeflateConfiguration?) {
        var random = SystemRandomNumberGenerator()
        key = Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
        self.offer = offer
    }

    func request(for target: Target) -> ByteBuffer {
        var text = "GET \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if let offer {
            text += "Sec-WebSocket-Extensions: \(PerMessageDeflateNegotiation.offer(offer))\r\n"
        }
        text += "\r\n"
        return ByteBuffer(string: text)
    }

    /// Reads the response head from `buffer` once it is complete (`nil` until then) and checks
    /// it: status 101, Upgrade, Connection, Sec-WebSocket-Accept, and the extension answer.
    /// Returns the agreed compression (nil: none).
    func response(from buffer: inout ByteBuffer) throws -> PerMessageDeflateParameters?? {
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if view.count > 16384 { throw LoadError("upgrade response head longer than 16 KiB") }
            return nil
        }
        let headLength = end.upperBound - view.startIndex
        let head = buffer.readString(length: headLength) ?? ""
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard let status = lines.first, status.hasPrefix("HTTP/1.1 101") else {
            throw LoadError("upgrade refused: \(lines.first ?? "no status line")")
        }
        lines.removeFirst()
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw LoadError("bad header line: \(line)") }
            headers.add(name: String(line[..<colon]),
                        value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        guard headers[canonicalForm: "upgrade"].contains(where: { $0.lowercased() == "websocket" }),
              headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" })
        else { throw LoadError("101 without Upgrade: websocket and Connection: Upgrade") }
        guard headers.first(name: "sec-websocket-accept") == ServerHandshake.acceptValue(forKey: key)
        else { throw LoadError("wrong Sec-WebSocket-Accept") }
        let extensions = try WebSocketExtension.parse(headers)
        guard let answer = extensions.first else { return .some(nil) }
        guard extensions.count == 1, answer.name.lowercased() == PerMessageDeflateNegotiation.extensionName,
              let offer
        else { throw LoadError("server answered an extension that was not offered: \(answer)") }
        return .some(try PerMessageDeflateNegotiation.validate(response: answer, offered: offer))
    }
}

/// The time on a monotonic clock, in nanoseconds.
@inline(__always)
func nowNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// A close frame from the client (masked), code 1000.
func maskedCloseFrame() -> ByteBuffer {
    var random = SystemRandomNumberGenerator()
    let key = MaskingKey.random(using: &random)
    var payload = ByteBuffer()
    payload.writeInteger(UInt16(1000))
    _ = key.apply(to: &payload)
    var frame = ByteBuffer()
    FrameSerializer.writeHeader(fin: true, opcode: .connectionClose, payloadLength: 2, maskingKey: key, into: &frame)
    frame.writeBuffer(&payload)
    return frame
}

/// A pong answering a ping's payload (masked).
func maskedPong(_ payload: ByteBuffer) -> ByteBuffer {
    var random = SystemRandomNumberGenerator()
    let key = MaskingKey.random(using: &random)
    var body = payload
    _ = key.apply(to: &body)
    var frame = ByteBuffer()
    FrameSerializer.writeHeader(fin: true, opcode: .pong, payloadLength: body.readableBytes, maskingKey: key, into: &frame)
    frame.writeBuffer(&body)
    return frame
}
