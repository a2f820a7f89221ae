import HoldfastCore
import NIOCore
import Testing

@Test func tmpBench() {
    let key = MaskingKey(1, 2, 3, 4)
    var src = [UInt8](repeating: 7, count: 70_000)
    var dst = [UInt8](repeating: 0, count: 70_000)
    let clock = ContinuousClock()
    let t = clock.measure {
        for _ in 0..<1000 {
            src.withUnsafeBytes { s in dst.withUnsafeMutableBytes { d in _ = key.apply(from: s.baseAddress!, to: d.baseAddress!, count: 70_000) } }
        }
    }
    let bytes = WireFrame.bytes(opcode: 2, payload: [UInt8](repeating: 1, count: 70_000), key: [1,2,3,4])
    let t2 = clock.measure {
        for _ in 0..<1000 {
            var p = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
            var b = ByteBuffer(bytes: bytes)
            _ = try? p.nextFrame(from: &b)
        }
    }
    Issue.record("apply x1000: \(t), parse x1000: \(t2)")
}
