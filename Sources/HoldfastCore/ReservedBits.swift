/// The three reserved bits of a frame header (RFC 6455 §5.2). They must be zero unless an
/// extension that defines them was negotiated (permessage-deflate uses RSV1).
public struct ReservedBits: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    /// Creates reserved bits from the first header byte's bit mask (`0x40`, `0x20`, `0x10`).
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x70 }

    /// RSV1, the "per-message compressed" bit of RFC 7692.
    public static let rsv1 = ReservedBits(rawValue: 0x40)
    /// RSV2, unused by any registered extension.
    public static let rsv2 = ReservedBits(rawValue: 0x20)
    /// RSV3, unused by any registered extension.
    public static let rsv3 = ReservedBits(rawValue: 0x10)
}
