import NIOCore

/// One message of the transfer sub-protocol, carried in a binary WebSocket message.
///
/// Every message begins with the two bytes `48 01` (`H`, version 1) and a kind byte; integers are
/// big-endian. The layout of each kind is in `docs/transfer-protocol.md`. Chunks carry raw bytes:
/// no base64, no length prefix (the data runs to the end of the message).
public enum TransferMessage: Sendable, Hashable {
    /// Sender → receiver, first on every connection: "this transfer; where do I resume?"
    case offer(TransferOffer)
    /// Sender → receiver: bytes of the transfer starting at `offset`.
    case chunk(id: TransferID, offset: Int, data: ByteBuffer)
    /// Sender → receiver, after the last chunk: the digest of everything sent.
    case finish(id: TransferID, digest: TransferDigest)
    /// Receiver → sender, the answer to an offer: the bytes it already holds, from the start.
    case resume(id: TransferID, offset: Int)
    /// Receiver → sender: everything before `offset` is stored.
    case acknowledge(id: TransferID, offset: Int)
    /// Receiver → sender: all bytes arrived and their digest matched `digest`.
    case complete(id: TransferID, digest: TransferDigest)
    /// Receiver → sender: the transfer is refused, and why.
    case refuse(id: TransferID, TransferRefusal)

    /// The first byte of every transfer message (`H`).
    public static let marker: UInt8 = 0x48
    /// The protocol version this code speaks.
    public static let version: UInt8 = 1
    /// The bytes before a chunk's data: marker, version, kind, id and offset. A chunk message is
    /// this plus its data, and must fit the peer's message limit.
    public static let chunkHeaderSize = 3 + TransferID.byteCount + 8

    /// The kind byte of each message.
    enum Kind: UInt8 {
        case offer = 0x01, chunk = 0x02, finish = 0x03
        case resume = 0x11, acknowledge = 0x12, complete = 0x13, refuse = 0x14
    }

    /// The id of the transfer the message is about.
    public var id: TransferID {
        switch self {
        case .offer(let offer): return offer.id
        case .chunk(let id, _, _), .finish(let id, _), .resume(let id, _), .acknowledge(let id, _),
             .complete(let id, _), .refuse(let id, _):
            return id
        }
    }

    private var kind: Kind {
        switch self {
        case .offer: return .offer
        case .chunk: return .chunk
        case .finish: return .finish
        case .resume: return .resume
        case .acknowledge: return .acknowledge
        case .complete: return .complete
        case .refuse: return .refuse
        }
    }

    /// The message as the payload of a binary WebSocket message.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        if case .chunk(_, _, let data) = self {
            buffer.reserveCapacity(Self.chunkHeaderSize + data.readableBytes)
        }
        buffer.writeBytes([Self.marker, Self.version, kind.rawValue])
        buffer.writeBytes(id.bytes)
        switch self {
        case .offer(let offer):
            buffer.writeInteger(UInt64(offer.size))
            buffer.writeInteger(offer.digest == nil ? UInt8(0) : UInt8(1))
            if let digest = offer.digest { buffer.writeBytes(digest.bytes) }
            buffer.writeInteger(UInt16(truncatingIfNeeded: offer.name.utf8.count))
            buffer.writeString(offer.name)
        case .chunk(_, let offset, let data):
            buffer.writeInteger(UInt64(offset))
            buffer.writeImmutableBuffer(data)
        case .finish(_, let digest), .complete(_, let digest):
            buffer.writeBytes(digest.bytes)
        case .resume(_, let offset), .acknowledge(_, let offset):
            buffer.writeInteger(UInt64(offset))
        case .refuse(_, let refusal):
            buffer.writeInteger(refusal.code.rawValue)
            buffer.writeString(refusal.reason)
        }
        return buffer
    }

    /// Decodes a received binary message, or throws what is wrong with it.
    public init(decoding message: ByteBuffer) throws(TransferProtocolError) {
        var input = message
        guard let marker = input.readInteger(as: UInt8.self), marker == Self.marker else {
            throw TransferProtocolError("not a transfer message: it does not begin with 0x48")
        }
        guard let version = input.readInteger(as: UInt8.self) else { throw .truncated("header") }
        guard version == Self.version else {
            throw TransferProtocolError("transfer protocol version \(version) is not supported (this side speaks 1)")
        }
        guard let rawKind = input.readInteger(as: UInt8.self) else { throw .truncated("header") }
        guard let kind = Kind(rawValue: rawKind) else {
            throw TransferProtocolError("unknown transfer message kind 0x\(String(rawKind, radix: 16))")
        }
        guard let idBytes = input.readBytes(length: TransferID.byteCount), let id = TransferID(bytes: idBytes) else {
            throw .truncated("\(kind) id")
        }
        switch kind {
        case .offer:
            let size = try Self.readOffset(&input, "offer size")
            guard let flags = input.readInteger(as: UInt8.self) else { throw .truncated("offer flags") }
            guard flags & ~1 == 0 else {
                throw TransferProtocolError("offer flags 0x\(String(flags, radix: 16)) set reserved bits")
            }
            let digest = flags & 1 == 1 ? try Self.readDigest(&input, "offer digest") : nil
            guard let nameLength = input.readInteger(as: UInt16.self) else { throw .truncated("offer name length") }
            guard let nameBytes = input.readBytes(length: Int(nameLength)) else { throw .truncated("offer name") }
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw TransferProtocolError("offer name is not UTF-8")
            }
            self = .offer(TransferOffer(id: id, size: size, digest: digest, name: name))
        case .chunk:
            let offset = try Self.readOffset(&input, "chunk offset")
            self = .chunk(id: id, offset: offset, data: input)
            return
        case .finish:
            self = .finish(id: id, digest: try Self.readDigest(&input, "finish digest"))
        case .resume:
            self = .resume(id: id, offset: try Self.readOffset(&input, "resume offset"))
        case .acknowledge:
            self = .acknowledge(id: id, offset: try Self.readOffset(&input, "acknowledge offset"))
        case .complete:
            self = .complete(id: id, digest: try Self.readDigest(&input, "complete digest"))
        case .refuse:
            guard let rawCode = input.readInteger(as: UInt8.self) else { throw .truncated("refuse code") }
            guard let reasonBytes = input.readBytes(length: input.readableBytes),
                  let reason = String(validating: reasonBytes, as: UTF8.self) else {
                throw TransferProtocolError("refuse reason is not UTF-8")
            }
            self = .refuse(id: id, TransferRefusal(TransferRefusal.Code(rawValue: rawCode) ?? .other, reason))
            return
        }
        guard input.readableBytes == 0 else {
            throw TransferProtocolError("\(input.readableBytes) unexpected bytes after a \(kind) message")
        }
    }

    /// Reads a 64-bit offset or size, which must fit a non-negative `Int`.
    private static func readOffset(_ input: inout ByteBuffer, _ what: String) throws(TransferProtocolError) -> Int {
        guard let value = input.readInteger(as: UInt64.self) else { throw .truncated(what) }
        guard value <= UInt64(Int.max) else { throw TransferProtocolError("\(what) \(value) is beyond 2^63 - 1") }
        return Int(value)
    }

    private static func readDigest(_ input: inout ByteBuffer, _ what: String) throws(TransferProtocolError)
        -> TransferDigest
    {
        guard let bytes = input.readBytes(length: TransferDigest.byteCount),
              let digest = TransferDigest(bytes: bytes) else { throw .truncated(what) }
        return digest
    }
}
