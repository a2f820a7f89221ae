import CZlib
import NIOCore

/// The trailer a sync flush ends with; RFC 7692 §7.2.1 removes it from each compressed message and
/// §7.2.2 appends it again before inflating.
private let syncFlushTrailer: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

/// Compresses outgoing messages for permessage-deflate (RFC 7692 §7.2.1) with zlib's raw deflate.
///
/// The zlib stream is created at the first message, so an idle connection holds no compression
/// memory. A class, because zlib's stream must stay at one address for its whole life.
final class MessageCompressor {
    private var stream: UnsafeMutablePointer<z_stream>?
    private let windowBits: Int32
    private let level: Int32
    private let memoryLevel: Int32
    private let noContextTakeover: Bool

    /// Creates a compressor; `windowBits` must be 9–15 (zlib cannot produce an 8-bit window).
    init(windowBits: Int, level: Int, memoryLevel: Int, noContextTakeover: Bool) {
        precondition((9...15).contains(windowBits), "zlib's raw deflate needs a window of 9 to 15 bits")
        self.windowBits = Int32(windowBits)
        self.level = Int32(level)
        self.memoryLevel = Int32(memoryLevel)
        self.noContextTakeover = noContextTakeover
    }

    deinit {
        if let stream {
            deflateEnd(stream)
            stream.deallocate()
        }
    }

    /// Compresses the next piece of a message: all of `data` is flushed to the output, so the
    /// result can go out as one frame. `isFinal` ends the message: its trailing `00 00 FF FF` is
    /// removed and, without context takeover, the window is emptied for the next message.
    func compress(_ data: ByteBuffer, isFinal: Bool) -> ByteBuffer {
        let stream = openStream()
        var output = ByteBuffer()
        // A sync flush adds a few bytes to what deflateBound allows for the data itself.
        output.reserveCapacity(Int(deflateBound(stream, uLong(data.readableBytes))) + 16)
        data.withUnsafeReadableBytes { input in
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(input.count)
            repeat {
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 64) { space in
                    stream.pointee.next_out = space.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(space.count)
                    // Z_OK or Z_BUF_ERROR (nothing left to flush); a valid stream cannot fail otherwise.
                    _ = deflate(stream, Z_SYNC_FLUSH)
                    return space.count - Int(stream.pointee.avail_out)
                }
            } while stream.pointee.avail_out == 0 || stream.pointee.avail_in > 0
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        if isFinal {
            if output.readableBytes >= 4,
               output.getBytes(at: output.writerIndex - 4, length: 4) == syncFlushTrailer {
                output.moveWriterIndex(to: output.writerIndex - 4)
            } else if output.readableBytes == 0 {
                // Nothing new since the last flush: RFC 7692 §7.2.3.6 sends one 0x00 byte, which
                // with the receiver's appended trailer is an empty stored block. An empty payload
                // would leave the receiver reading the trailer as the start of a block.
                output.writeInteger(UInt8(0))
            }
            if noContextTakeover { deflateReset(stream) }
        }
        return output
    }

    private func openStream() -> UnsafeMutablePointer<z_stream> {
        if let stream { return stream }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // A negative window asks for raw deflate: no zlib header or checksum (RFC 7692 §7.2.1).
        let status = deflateInit2_(stream, level, Z_DEFLATED, -windowBits, memoryLevel, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        // Only out of memory, or arguments the initializer already checked, make this fail.
        precondition(status == Z_OK, "zlib could not start a deflate stream (\(status))")
        self.stream = stream
        return stream
    }
}

/// Inflates received messages for permessage-deflate (RFC 7692 §7.2.2) within a size limit.
///
/// Inflation stops as soon as the output passes the limit, so a small message that would
/// inflate to gigabytes costs at most the limit. The zlib stream is created at the first
/// compressed message received.
final class MessageDecompressor {
    private var stream: UnsafeMutablePointer<z_stream>?
    private let windowBits: Int32
    private let noContextTakeover: Bool

    /// The most output asked of zlib per call, so that a step past the limit is small.
    private static let stepSize = 64 * 1024

    private static let trailer = ByteBuffer(bytes: syncFlushTrailer)

    /// Creates a decompressor for a peer compressing with up to `windowBits` (8–15) bits.
    init(windowBits: Int, noContextTakeover: Bool) {
        // zlib produces 9-bit windows when asked for 8, and a larger window decodes any smaller one.
        self.windowBits = Int32(max(9, min(windowBits, 15)))
        self.noContextTakeover = noContextTakeover
    }

    deinit {
        if let stream {
            inflateEnd(stream)
            stream.deallocate()
        }
    }

    /// Inflates the compressed payload of one frame, appending to `output`.
    /// - Parameters:
    ///   - data: the frame's payload.
    ///   - isFinal: whether the frame ends the message (the sync-flush trailer is appended).
    ///   - output: where inflated bytes go.
    ///   - allowance: how many bytes this frame may add.
    ///   - tooBig: the error (1009, naming the limit) once the output exceeds `allowance`.
    /// - Throws: `tooBig`, or 1007 when the data is not deflate.
    func decompress(_ data: ByteBuffer, isFinal: Bool, into output: inout ByteBuffer, allowance: Int,
                    tooBig: WebSocketProtocolError) throws(WebSocketProtocolError) {
        let stream = openStream()
        var produced = 0
        try data.withUnsafeReadableBytes { input throws(WebSocketProtocolError) in
            try inflate(input, stream: stream, into: &output, produced: &produced, allowance: allowance,
                        tooBig: tooBig)
        }
        if isFinal {
            try Self.trailer.withUnsafeReadableBytes { trailer throws(WebSocketProtocolError) in
                try inflate(trailer, stream: stream, into: &output, produced: &produced, allowance: allowance,
                            tooBig: tooBig)
            }
            if noContextTakeover { inflateReset(stream) }
        }
    }

    private func inflate(_ input: UnsafeRawBufferPointer, stream: UnsafeMutablePointer<z_stream>,
                         into output: inout ByteBuffer, produced: inout Int, allowance: Int,
                         tooBig: WebSocketProtocolError) throws(WebSocketProtocolError) {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        var status = Z_OK
        repeat {
            // One byte more than allowed, so that crossing the limit is seen rather than stalled on.
            let room = allowance == Int.max ? Self.stepSize : min(Self.stepSize, allowance - produced + 1)
            let written = output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { space in
                let offered = min(space.count, room)
                stream.pointee.next_out = space.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(offered)
                status = CZlib.inflate(stream, Z_SYNC_FLUSH)
                return offered - Int(stream.pointee.avail_out)
            }
            produced += written
            if produced > allowance { throw tooBig }
            switch status {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                // The peer ended its deflate stream with a final block; what follows starts a new one.
                inflateReset(stream)
            default:
                throw .invalidPayload("compressed message is not valid deflate data")
            }
        } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
    }

    private func openStream() -> UnsafeMutablePointer<z_stream> {
        if let stream { return stream }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, -windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "zlib could not start an inflate stream (\(status))")
        self.stream = stream
        return stream
    }
}
