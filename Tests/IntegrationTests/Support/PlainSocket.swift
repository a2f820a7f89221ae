#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP client on a plain socket that sends without ever blocking and reads only when told: a
/// peer that floods and never reads, which an event-loop client cannot be (it reads whatever
/// arrives). Loopback only; closed on deinit.
final class PlainSocket {
    private let descriptor: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to 127.0.0.1:`port` (blocking, on loopback).
    init(port: Int) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(description: "socket() failed: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw Failure(description: "connect() failed: \(errno)")
        }
    }

    deinit { close(descriptor) }

    /// Sends all of `bytes`, waiting as long as it takes (for a handshake, a few bytes).
    func sendAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard sent > 0 else { throw Failure(description: "send() failed: \(errno)") }
            offset += sent
        }
    }

    /// Sends as much of `bytes[offset...]` as the socket takes now; 0 when its buffer is full.
    /// The caller goes on from `offset` plus what was sent, so frames stay whole on the wire.
    func sendWithoutWaiting(_ bytes: [UInt8], from offset: Int) -> Int {
        let sent = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return max(0, sent)
    }

    /// Reads until the end of an HTTP head (`\r\n\r\n`), at most 16 KiB.
    func readHTTPHead() throws -> String {
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while head.count < 16 * 1024 {
            guard recv(descriptor, &byte, 1, 0) == 1 else { throw Failure(description: "the connection ended in its HTTP head") }
            head.append(byte)
            if head.suffix(4) == [13, 10, 13, 10] { return String(decoding: head, as: UTF8.self) }
        }
        throw Failure(description: "an HTTP head over 16 KiB")
    }

    /// Reads and discards everything until the peer closes, waiting at most `seconds` of quiet
    /// for each read; returns the bytes read and whether the end was seen.
    func drainToEnd(quietSeconds: Int) -> (bytes: [UInt8], ended: Bool) {
        var timeout = timeval(tv_sec: quietSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (all, true) }
            if count < 0 { return (all, false) }
            all += buffer[..<count]
        }
    }
}
