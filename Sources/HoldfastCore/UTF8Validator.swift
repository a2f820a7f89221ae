import NIOCore

/// Incremental UTF-8 validation (Unicode §3.9, Table 3-7) for text messages that arrive in pieces.
///
/// Feed it each fragment, or each part of a fragment, as it arrives: it fails at the first byte
/// that cannot continue a valid sequence, so an invalid text message is refused with 1007 without
/// waiting for the rest of it (RFC 6455 §8.1). A message is valid when every piece validated and
/// ``isComplete`` is true at its end.
public struct UTF8Validator: Sendable, Hashable {
    /// Continuation bytes still expected for the current scalar.
    private var pendingContinuations: UInt8 = 0
    /// The range the next continuation byte must fall in; narrower than 0x80...0xBF only for the
    /// second byte after E0, ED, F0 and F4 (no overlongs, no surrogates, nothing above U+10FFFF).
    private var lowerBound: UInt8 = 0x80
    private var upperBound: UInt8 = 0xBF

    /// A validator at the start of a text.
    public init() {}

    /// Whether the bytes seen so far end on a scalar boundary.
    public var isComplete: Bool { pendingContinuations == 0 }

    /// Validates the next bytes. Returns `false` at the first invalid byte; the validator must not
    /// be used again after that.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            if pendingContinuations == 0 {
                // ASCII runs are the common case: skip them 32 bytes at a time (four words OR'ed,
                // which the optimizer vectorizes), then 8 at a time.
                while index &+ 32 <= count {
                    let first = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    let second = base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
                    let third = base.loadUnaligned(fromByteOffset: index &+ 16, as: UInt64.self)
                    let fourth = base.loadUnaligned(fromByteOffset: index &+ 24, as: UInt64.self)
                    if (first | second | third | fourth) & 0x8080_8080_8080_8080 != 0 { break }
                    index &+= 32
                }
                while index &+ 8 <= count {
                    let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index &+= 8
                }
                guard index < count else { break }
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                index &+= 1
                if byte < 0x80 { continue }
                switch byte {
                case 0xC2...0xDF:
                    pendingContinuations = 1
                case 0xE0:
                    pendingContinuations = 2
                    lowerBound = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF:
                    pendingContinuations = 2
                case 0xED:
                    pendingContinuations = 2
                    upperBound = 0x9F
                case 0xF0:
                    pendingContinuations = 3
                    lowerBound = 0x90
                case 0xF1...0xF3:
                    pendingContinuations = 3
                case 0xF4:
                    pendingContinuations = 3
                    upperBound = 0x8F
                default:
                    return false
                }
            } else {
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                guard byte >= lowerBound, byte <= upperBound else { return false }
                index &+= 1
                lowerBound = 0x80
                upperBound = 0xBF
                pendingContinuations &-= 1
            }
        }
        return true
    }

    /// Validates the readable bytes of a buffer view.
    public mutating func validate(_ bytes: ByteBufferView) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Validates a byte collection (tests, small inputs).
    public mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }
}
