/// An independent, naive encoder of RFC 6455 frames (§5.2) for building test input byte by byte,
/// so that tests do not depend on the serializer they check.
public enum WireFrame {
    /// The bytes of one frame: first byte from `fin`, `reservedBits` (0x70 mask) and `opcode`,
    /// the shortest length encoding of `declaredLength` (default: the payload's length), the key,
    /// then the payload XORed with the key byte by byte.
    public static func bytes(fin: Bool = true, reservedBits: UInt8 = 0, opcode: UInt8, payload: [UInt8],
                             key: [UInt8]? = nil, declaredLength: Int? = nil) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | reservedBits | opcode]
        let maskBit: UInt8 = key == nil ? 0 : 0x80
        let count = declaredLength ?? payload.count
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
    public static func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
    }
}

/// A client frame: masked with `key`, as a browser would send it; `declaredLength` puts another
/// length in the header than the payload's.
public func maskedFrame(fin: Bool = true, opcode: UInt8, payload: [UInt8], key: [UInt8] = [0x11, 0x22, 0x33, 0x44],
                        declaredLength: Int? = nil) -> [UInt8] {
    WireFrame.bytes(fin: fin, opcode: opcode, payload: payload, key: key, declaredLength: declaredLength)
}

/// A server frame's bytes: unmasked, with a payload of at most 125 bytes.
public func serverFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
    precondition(payload.count < 126)
    return WireFrame.bytes(opcode: opcode, payload: payload)
}

/// The body of a close frame: the code in network byte order, then the reason's UTF-8.
public func closePayload(_ code: UInt16, _ reason: String) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}
