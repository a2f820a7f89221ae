/// An independent, naive encoder of RFC 6455 frames (§5.2) for building test input byte by byte,
/// so that parser tests do not depend on ``FrameSerializer``.
enum WireFrame {
    /// The bytes of one frame: first byte from `fin`, `reservedBits` (0x70 mask) and `opcode`,
    /// the shortest length encoding (or the one forced by `lengthEncoding`), the key, then the
    /// payload XORed with the key byte by byte.
    static func bytes(fin: Bool = true, reservedBits: UInt8 = 0, opcode: UInt8, payload: [UInt8],
                      key: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | reservedBits | opcode]
        let maskBit: UInt8 = key == nil ? 0 : 0x80
        let count = payload.count
        if count < 126 {
            out.append(maskBit | UInt8(count))
        } else if count <= 0xFFFF {
            out += [maskBit | 126, UInt8(count >> 8), UInt8(count & 0xFF)]
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: count >> shift))
            }
        }
        if let key {
            out += key
            for (index, byte) in payload.enumerated() {
                out.append(byte ^ key[index % 4])
            }
        } else {
            out += payload
        }
        return out
    }

    /// A payload of `count` bytes with a recognisable, position-dependent pattern.
    static func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
    }
}
