import NIOCore

/// The 16 bytes that name a transfer on both ends, so that the receiver finds a partial transfer
/// again when the sender comes back on a new connection.
public struct TransferID: Sendable, Hashable, CustomStringConvertible {
    /// The length of an id on the wire.
    public static let byteCount = 16

    /// The id's 16 bytes.
    public let bytes: [UInt8]

    /// Wraps 16 bytes; `nil` for any other length.
    public init?(bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// A fresh id from `random`, for a transfer whose content is not known up front (a stream).
    public init(using random: inout some RandomNumberGenerator) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for _ in 0..<(Self.byteCount / 8) {
            withUnsafeBytes(of: random.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        self.bytes = bytes
    }

    /// The id of a transfer of known content: the first 16 bytes of SHA-256 over its name, size
    /// and digest. The same file sent again, even by a restarted sender, gets the same id and so
    /// resumes where the receiver stopped.
    public init(name: String, size: Int, digest: TransferDigest) {
        var input = ByteBuffer()
        input.writeString("holdfast-transfer\u{0}")
        input.writeInteger(UInt16(truncatingIfNeeded: name.utf8.count))
        input.writeString(name)
        input.writeInteger(UInt64(size))
        input.writeBytes(digest.bytes)
        self.bytes = Array(TransferDigest(of: input).bytes.prefix(Self.byteCount))
    }

    /// The id in lowercase hexadecimal (32 characters), also a safe file name.
    public var description: String { hexadecimal(bytes) }

    /// Parses the 32 hexadecimal characters ``description`` writes; `nil` for anything else.
    public init?(hexadecimal text: String) {
        guard let bytes = decodeHexadecimal(text, count: Self.byteCount) else { return nil }
        self.bytes = bytes
    }
}
