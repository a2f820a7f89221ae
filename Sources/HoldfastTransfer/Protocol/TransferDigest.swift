import Crypto
import NIOCore

/// The SHA-256 digest of a transfer's bytes: what the receiver checks before it reports the
/// transfer complete.
public struct TransferDigest: Sendable, Hashable, CustomStringConvertible {
    /// The length of a SHA-256 digest on the wire.
    public static let byteCount = 32

    /// The digest's 32 bytes.
    public let bytes: [UInt8]

    /// Wraps 32 digest bytes; `nil` for any other length.
    public init?(bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// The digest of `data`, hashed at once.
    public init(of data: ByteBuffer) {
        var hasher = TransferHasher()
        hasher.update(data)
        self = hasher.finalize()
    }

    /// The digest in lowercase hexadecimal, as `sha256sum` prints it.
    public var description: String { hexadecimal(bytes) }

    /// Parses the 64 hexadecimal characters ``description`` writes; `nil` for anything else.
    public init?(hexadecimal text: String) {
        guard let bytes = decodeHexadecimal(text, count: Self.byteCount) else { return nil }
        self.bytes = bytes
    }
}

/// An incremental SHA-256 over a transfer's bytes, fed chunk by chunk so the whole transfer is
/// never in memory.
public struct TransferHasher {
    private var hash = SHA256()

    /// Starts an empty digest.
    public init() {}

    /// Adds the readable bytes of `data`.
    public mutating func update(_ data: ByteBuffer) {
        data.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
    }

    /// The digest of everything added.
    public func finalize() -> TransferDigest {
        guard let digest = TransferDigest(bytes: hash.finalize()) else {
            preconditionFailure("SHA-256 produces \(TransferDigest.byteCount) bytes")
        }
        return digest
    }
}

/// `bytes` as lowercase hexadecimal.
func hexadecimal(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
}

/// The `count` bytes that `text` spells in lowercase hexadecimal; `nil` for anything else.
func decodeHexadecimal(_ text: String, count: Int) -> [UInt8]? {
    func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
    let digits = Array(text.utf8)
    guard digits.count == count * 2 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
    }
    return bytes
}
