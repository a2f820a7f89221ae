import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

/// Whether `bytes` is valid UTF-8 by the standard library's decoder: decoding without repairs
/// gives back the same bytes.
private func referenceIsValid(_ bytes: [UInt8]) -> Bool {
    Array(String(decoding: bytes, as: UTF8.self).utf8) == bytes
}

/// Validates `pieces` one call each; returns the index of the first call that failed, or `nil`,
/// and whether the validator ended on a scalar boundary.
private func validate(_ pieces: [[UInt8]]) -> (failedPiece: Int?, isComplete: Bool) {
    var validator = UTF8Validator()
    for (index, piece) in pieces.enumerated() where !validator.validate(piece) {
        return (index, validator.isComplete)
    }
    return (nil, validator.isComplete)
}

private func isValid(_ bytes: [UInt8]) -> Bool {
    let result = validate([bytes])
    return result.failedPiece == nil && result.isComplete
}

/// Valid UTF-8 at the edges of Unicode §3.9 Table 3-7.
private let validVectors: [[UInt8]] = [
    [],
    Array("Hello, world".utf8),
    [0x00], [0x7F],
    [0xC2, 0x80], [0xDF, 0xBF],  // U+0080, U+07FF
    [0xE0, 0xA0, 0x80],  // U+0800
    [0xED, 0x9F, 0xBF],  // U+D7FF, just below the surrogates
    [0xEE, 0x80, 0x80],  // U+E000, just above them
    [0xEF, 0xBF, 0xBF],  // U+FFFF
    [0xF0, 0x90, 0x80, 0x80],  // U+10000
    [0xF4, 0x8F, 0xBF, 0xBF],  // U+10FFFF
    [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5],  // κόσμε
    Array("héllo wörld € 𝄞 漢字 🎉".utf8),
]

/// Invalid UTF-8 with the index of the first byte that cannot continue a valid sequence.
private let invalidVectors: [(bytes: [UInt8], firstInvalidByte: Int)] = [
    ([0xC0, 0x80], 0),  // overlong U+0000
    ([0xC1, 0xBF], 0),  // overlong U+007F
    ([0xE0, 0x80, 0x80], 1),  // overlong U+0000 in three bytes
    ([0xE0, 0x9F, 0xBF], 1),  // overlong U+07FF
    ([0xF0, 0x80, 0x80, 0x80], 1),  // overlong in four bytes
    ([0xF0, 0x8F, 0xBF, 0xBF], 1),  // overlong U+FFFF
    ([0xED, 0xA0, 0x80], 1),  // U+D800, a surrogate
    ([0xED, 0xBF, 0xBF], 1),  // U+DFFF
    ([0xF4, 0x90, 0x80, 0x80], 1),  // U+110000, beyond Unicode
    ([0xF5, 0x80, 0x80, 0x80], 0),
    ([0xF8, 0x88, 0x80, 0x80, 0x80], 0),
    ([0xFE], 0), ([0xFF], 0),
    ([0x80], 0),  // lone continuation byte
    ([0xBF], 0),
    ([0x61, 0x62, 0x80], 2),  // continuation byte after ASCII
    ([0xC3, 0xA9, 0xA9], 2),  // one continuation too many
    ([0xC3, 0x41], 1),  // truncated sequence followed by ASCII
    ([0xE2, 0x82, 0x41], 2),
    ([0xF0, 0x9D, 0x84, 0xC3, 0xA9], 3),  // truncated sequence followed by a new one
    ([0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69,
      0x74, 0x65, 0x64], 12),  // Autobahn 6.4.x style: valid text, then a surrogate
]

@Suite("UTF8Validator — RFC 6455 §8.1 and Unicode §3.9")
struct UTF8ValidatorTests {
    @Test("valid vectors are valid, whole and byte by byte")
    func validVectorsAreValid() {
        for bytes in validVectors {
            #expect(isValid(bytes), "\(bytes)")
            #expect(validate(bytes.map { [$0] }) == (nil, true), "\(bytes) byte by byte")
            #expect(referenceIsValid(bytes), "reference disagrees about \(bytes)")
        }
    }

    @Test("invalid vectors fail at their first invalid byte")
    func invalidVectorsFailAtFirstInvalidByte() {
        for (bytes, firstInvalidByte) in invalidVectors {
            #expect(!isValid(bytes), "\(bytes)")
            #expect(validate(bytes.map { [$0] }).failedPiece == firstInvalidByte, "\(bytes) byte by byte")
            #expect(!referenceIsValid(bytes), "reference disagrees about \(bytes)")
        }
    }

    @Test("a truncated sequence validates but does not end on a scalar boundary")
    func truncatedSequences() {
        let truncated: [[UInt8]] = [[0xC3], [0xE2], [0xE2, 0x82], [0xF0, 0x9D], [0xF0, 0x9D, 0x84],
                                    Array("abc".utf8) + [0xF4, 0x8F, 0xBF]]
        for bytes in truncated {
            #expect(validate([bytes]) == (nil, false), "\(bytes)")
            #expect(!referenceIsValid(bytes), "reference disagrees about \(bytes)")
        }
    }

    @Test("a sequence split across calls is checked across the split")
    func splitAcrossCalls() {
        // "F4" then "90": the second byte makes it a scalar above U+10FFFF.
        var validator = UTF8Validator()
        let first = validator.validate([0xF4])
        #expect(first)
        #expect(!validator.isComplete)
        let second = validator.validate([0x90])
        #expect(!second)

        #expect(validate([[0xE0], [0x9F], [0x80]]).failedPiece == 1)
        #expect(validate([[0xED], [0xA0, 0x80]]).failedPiece == 1)
        #expect(validate([[0xF0, 0x9D], [], [0x84], [0x9E, 0x41]]) == (nil, true))
        #expect(validate([[0xE2, 0x82], [0xAC]]) == (nil, true))
    }

    @Test("a non-ASCII byte is found at every position of an ASCII run")
    func asciiFastPathBoundaries() {
        let ascii = [UInt8](repeating: 0x61, count: 40)
        for position in 0..<ascii.count {
            var invalid = ascii
            invalid[position] = 0x80
            #expect(validate([invalid]).failedPiece == 0, "0x80 at \(position)")

            let valid = Array(ascii[..<position]) + [0xC3, 0xA9] + Array(ascii[position...])
            #expect(isValid(valid), "é at \(position)")

            let truncated = Array(ascii[..<position]) + [0xE2, 0x82]
            #expect(validate([truncated]) == (nil, false), "truncated at \(position)")
        }
    }

    @Test("ByteBufferView and raw-pointer input validate like arrays")
    func otherInputs() {
        let valid = Array("zażółć gęślą jaźń".utf8)
        var fromView = UTF8Validator()
        let viewResult = fromView.validate(ByteBuffer(bytes: valid).readableBytesView)
        #expect(viewResult)
        #expect(fromView.isComplete)
        var fromPointer = UTF8Validator()
        let pointerResult = valid.withUnsafeBytes { fromPointer.validate($0) }
        #expect(pointerResult)
        var empty = UTF8Validator()
        let emptyResult = empty.validate(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(emptyResult)
        #expect(empty.isComplete)
        var invalid = UTF8Validator()
        var buffer = ByteBuffer(bytes: [0x41, 0xED, 0xA0, 0x80])
        buffer.moveReaderIndex(forwardBy: 1)
        let invalidResult = invalid.validate(buffer.readableBytesView)
        #expect(!invalidResult)
    }

    @Test("agrees with the standard library on random bytes fed in random pieces")
    func propertyAgainstStandardLibrary() {
        var random = SeededRandomNumberGenerator(seed: 0x0DDB_A11)
        // Mostly well-formed pieces so that valid inputs are common, with some single bytes of
        // each class so that every kind of error appears too.
        let scalars: [String] = ["a", "Z", " ", "é", "ß", "€", "漢", "\u{FFFF}", "\u{E000}", "\u{D7FF}",
                                 "\u{10000}", "\u{10FFFF}", "𝄞", "🎉", "\u{80}", "\u{7FF}", "\u{800}"]
        let strayBytes: [UInt8] = [0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED,
                                   0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        var validCount = 0
        var disagreements: [[UInt8]] = []
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            let parts = Int.random(in: 0...24, using: &random)
            for _ in 0..<parts {
                switch Int.random(in: 0..<10, using: &random) {
                case 0: bytes.append(strayBytes.randomElement(using: &random)!)
                case 1: bytes.append(UInt8.random(in: 0...255, using: &random))
                case 2: bytes += Array(scalars.randomElement(using: &random)!.utf8).dropLast()
                default: bytes += Array(scalars.randomElement(using: &random)!.utf8)
                }
            }
            if Int.random(in: 0..<4, using: &random) == 0 {
                bytes = (0..<Int.random(in: 0...32, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            var pieces: [[UInt8]] = []
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + Int.random(in: 0...9, using: &random))
                pieces.append(Array(bytes[start..<end]))
                start = end
            }
            let result = validate(pieces)
            let valid = result.failedPiece == nil && result.isComplete
            let expected = referenceIsValid(bytes)
            if expected { validCount += 1 }
            if valid != expected { disagreements.append(bytes) }
            // Whatever the split, an invalid input fails within the piece holding the first bad byte:
            // the whole input fails at the same piece count as feeding it byte by byte would allow.
            if let failedPiece = result.failedPiece {
                let consumed = pieces[..<failedPiece].reduce(0) { $0 + $1.count }
                guard let failingByte = validate(bytes.map { [$0] }).failedPiece,
                      failingByte >= consumed, failingByte < consumed + pieces[failedPiece].count
                else {
                    disagreements.append(bytes)
                    continue
                }
            }
        }
        #expect(disagreements.isEmpty)
        // The generator must produce both kinds in quantity for the comparison to mean anything.
        #expect(validCount > 300)
        #expect(validCount < 2500)
    }
}
