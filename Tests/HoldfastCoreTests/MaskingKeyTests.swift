import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

/// The reference of RFC 6455 §5.3, byte by byte: `out[i] = in[i] ^ key[(i + phase) % 4]`.
private func naiveMask(_ input: [UInt8], key: [UInt8], phase: Int) -> [UInt8] {
    input.indices.map { input[$0] ^ key[($0 + phase) % 4] }
}

private func randomBytes(_ count: Int, using random: inout SeededRandomNumberGenerator) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
}

/// Lengths 0...300 exercise every tail after the 16- and 8-byte steps; the large ones many steps.
private let lengths = Array(0...300) + [1021, 4096, 65_537, 70_003]

@Suite("MaskingKey — RFC 6455 §5.3 client-to-server masking")
struct MaskingKeyTests {
    @Test("copying apply matches the byte loop for every length, unaligned offset and phase")
    func copyingMatchesNaive() {
        var random = SeededRandomNumberGenerator(seed: 0xA11CE)
        var mismatches: [String] = []
        for length in lengths {
            let keyBytes = randomBytes(4, using: &random)
            let key = MaskingKey(keyBytes[0], keyBytes[1], keyBytes[2], keyBytes[3])
            let input = randomBytes(length, using: &random)
            let sourceOffset = Int.random(in: 0..<16, using: &random)
            let targetOffset = Int.random(in: 0..<16, using: &random)
            var source = [UInt8](repeating: 0xEE, count: length + 32)
            source.replaceSubrange(sourceOffset..<sourceOffset + length, with: input)
            for phase in 0..<4 {
                var target = [UInt8](repeating: 0xDD, count: length + 32)
                let returned = source.withUnsafeBytes { sourceBytes in
                    target.withUnsafeMutableBytes { targetBytes in
                        key.apply(from: sourceBytes.baseAddress! + sourceOffset,
                                  to: targetBytes.baseAddress! + targetOffset, count: length, phase: phase)
                    }
                }
                let expected = naiveMask(input, key: keyBytes, phase: phase)
                if Array(target[targetOffset..<targetOffset + length]) != expected {
                    mismatches.append("length \(length) phase \(phase): wrong bytes")
                }
                // Nothing outside the destination range is touched.
                if target[..<targetOffset].contains(where: { $0 != 0xDD })
                    || target[(targetOffset + length)...].contains(where: { $0 != 0xDD })
                {
                    mismatches.append("length \(length) phase \(phase): wrote outside the destination")
                }
                if returned != (phase + length) % 4 {
                    mismatches.append("length \(length) phase \(phase): returned phase \(returned)")
                }
            }
        }
        #expect(mismatches.isEmpty)
    }

    @Test("in-place apply matches the byte loop for every length, unaligned offset and phase")
    func inPlaceMatchesNaive() {
        var random = SeededRandomNumberGenerator(seed: 0xB0B)
        var mismatches: [String] = []
        for length in lengths {
            let keyBytes = randomBytes(4, using: &random)
            let key = MaskingKey(keyBytes[0], keyBytes[1], keyBytes[2], keyBytes[3])
            let input = randomBytes(length, using: &random)
            let offset = Int.random(in: 0..<16, using: &random)
            for phase in 0..<4 {
                var buffer = [UInt8](repeating: 0xCC, count: length + 32)
                buffer.replaceSubrange(offset..<offset + length, with: input)
                let returned = buffer.withUnsafeMutableBytes { bytes in
                    key.apply(from: UnsafeRawPointer(bytes.baseAddress! + offset), to: bytes.baseAddress! + offset,
                              count: length, phase: phase)
                }
                if Array(buffer[offset..<offset + length]) != naiveMask(input, key: keyBytes, phase: phase) {
                    mismatches.append("length \(length) phase \(phase): wrong bytes")
                }
                if buffer[..<offset].contains(where: { $0 != 0xCC })
                    || buffer[(offset + length)...].contains(where: { $0 != 0xCC })
                {
                    mismatches.append("length \(length) phase \(phase): wrote outside the range")
                }
                if returned != (phase + length) % 4 {
                    mismatches.append("length \(length) phase \(phase): returned phase \(returned)")
                }
            }
        }
        #expect(mismatches.isEmpty)
    }

    @Test("ByteBuffer apply masks only the readable bytes, in place, from the given phase")
    func byteBufferApply() {
        var random = SeededRandomNumberGenerator(seed: 0xC0FFEE)
        let keyBytes: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        let key = MaskingKey(keyBytes)!
        for length in [0, 1, 7, 8, 15, 16, 17, 33, 1000] {
            for phase in 0..<4 {
                let prefix = randomBytes(3, using: &random)
                let input = randomBytes(length, using: &random)
                var buffer = ByteBuffer(bytes: prefix + input)
                buffer.moveReaderIndex(forwardBy: 3)  // readable bytes start unaligned
                let returned = key.apply(to: &buffer, phase: phase)
                #expect(Array(buffer.readableBytesView) == naiveMask(input, key: keyBytes, phase: phase))
                #expect(returned == (phase + length) % 4)
                buffer.moveReaderIndex(to: 0)
                #expect(Array(buffer.readableBytesView.prefix(3)) == prefix)
            }
        }
    }

    @Test("masking in pieces, carrying the returned phase, equals masking in one go")
    func phaseCarriesAcrossPieces() {
        var random = SeededRandomNumberGenerator(seed: 0xD1CE)
        let keyBytes = randomBytes(4, using: &random)
        let key = MaskingKey(keyBytes)!
        let input = randomBytes(1000, using: &random)
        let expected = naiveMask(input, key: keyBytes, phase: 0)
        for _ in 0..<50 {
            var output: [UInt8] = []
            var phase = 0
            var start = 0
            while start < input.count {
                let end = min(input.count, start + Int.random(in: 0...70, using: &random))
                var piece = ByteBuffer(bytes: input[start..<end])
                phase = key.apply(to: &piece, phase: phase)
                output += piece.readableBytesView
                start = end
            }
            #expect(output == expected)
        }
    }

    @Test("applying the same key twice restores the payload")
    func involution() {
        var random = SeededRandomNumberGenerator(seed: 7)
        let key = MaskingKey.random(using: &random)
        let input = randomBytes(257, using: &random)
        var buffer = ByteBuffer(bytes: input)
        key.apply(to: &buffer, phase: 2)
        #expect(Array(buffer.readableBytesView) != input)
        key.apply(to: &buffer, phase: 2)
        #expect(Array(buffer.readableBytesView) == input)
    }

    @Test("a key is four bytes in wire order")
    func keyBytes() {
        let key = MaskingKey(0x01, 0x02, 0x03, 0x04)
        #expect([key[0], key[1], key[2], key[3]] == [0x01, 0x02, 0x03, 0x04])
        #expect(key[4] == 0x01)
        #expect(key[7] == 0x04)
        #expect(MaskingKey([1, 2, 3, 4]) == key)
        #expect(MaskingKey([1, 2, 3]) == nil)
        #expect(MaskingKey([1, 2, 3, 4, 5]) == nil)
        #expect(MaskingKey([1, 2, 3, 5]) != key)
        #expect(Set([key, MaskingKey(1, 2, 3, 4), MaskingKey(4, 3, 2, 1)]).count == 2)
    }

    @Test("random keys come from the generator: the same seed gives the same keys")
    func randomKeysFollowTheGenerator() {
        var first = SeededRandomNumberGenerator(seed: 42)
        var second = SeededRandomNumberGenerator(seed: 42)
        let keys = (0..<16).map { _ in MaskingKey.random(using: &first) }
        #expect(keys == (0..<16).map { _ in MaskingKey.random(using: &second) })
        #expect(Set(keys).count > 1)
    }
}
