import CLibFuzzer
import HoldfastCore
import NIOCore

/// Stops the run when an invariant breaks. `fatalError` traps in release builds too, so libFuzzer
/// records the input as a crash with this message above the stack.
public func check(_ condition: Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        fatalError("fuzz invariant broken: \(message())", file: file, line: line)
    }
}

/// The libFuzzer input, read from the front: a few bytes choose settings, the rest is data.
public struct FuzzInput {
    public private(set) var bytes: UnsafeBufferPointer<UInt8>

    public init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        bytes = UnsafeBufferPointer(start: data, count: size)
    }

    /// The next byte, or 0 once the input is used up, so that short inputs still run.
    public mutating func takeByte() -> UInt8 {
        guard let first = bytes.first else { return 0 }
        bytes = UnsafeBufferPointer(rebasing: bytes.dropFirst())
        return first
    }

    /// Everything not taken yet.
    public var rest: UnsafeBufferPointer<UInt8> { bytes }
}

/// Masking keys for a client machine that are the same on every run of an input, so a crash
/// reproduces exactly (SplitMix64).
public struct FuzzRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64 = 0x5EED

    public init() {}

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Limits small enough that one input can never make the machine hold much: the fuzzer runs
/// millions of inputs in one process with `-rss_limit_mb`, and these bound memory by design.
public enum FuzzLimits {
    public static let maxMessageSize = 64 * 1024
    public static let maxFrameSize = 16 * 1024
}

/// Drives one `ConnectionStateMachine` the way the NIO handler does: feed a read, drain every
/// action, and check after each read what must hold whatever the peer sent. Uses only the
/// machine's basic public API so that it survives changes to the machine's internals.
public struct MachineDriver {
    public var machine: ConnectionStateMachine
    /// What the machine may hold after a read is drained, before counting the read itself.
    private let bufferLimit: Int
    private let messageLimit: Int
    /// Echo each delivered message (as an echo server does), exercising the encoder and, with
    /// compression, the compressor's context across messages.
    private let echoes: Bool
    /// After `.shutdownOutput` or `.closeConnection` the machine has given up on the input:
    /// RFC 6455 §7.1.7, once a connection is failed no further data is processed.
    private var stoppedReading = false
    private var closeTimeoutScheduled = false

    public init(role: Role, configuration: WebSocketConfiguration, compression: PerMessageDeflateParameters?,
                echoes: Bool) {
        machine = ConnectionStateMachine(role: role, configuration: configuration, compression: compression,
                                         randomSource: FuzzRandom())
        messageLimit = configuration.effectiveMaxMessageSize
        // The message being reassembled plus the frame still arriving. Compressed, the frame's
        // deflated bytes and the inflated message are held at the same time; each is bounded.
        bufferLimit = configuration.effectiveMaxMessageSize + configuration.effectiveMaxFrameSize
        self.echoes = echoes
    }

    /// One read from the socket.
    public mutating func receive(_ bytes: UnsafeBufferPointer<UInt8>) {
        machine.bytesReceived(ByteBuffer(bytes: bytes))
        drain(readSize: bytes.count)
    }

    /// Takes every action the machine has, checking each.
    public mutating func drain(readSize: Int) {
        var actions = 0
        while let action = machine.nextAction() {
            actions += 1
            // Every action is paid for by input bytes (a frame is at least two) or by a close,
            // which queues at most a few: more means the machine emits without consuming.
            check(actions <= readSize + 8, "\(actions) actions from a read of \(readSize) bytes")
            switch action {
            case .deliver(let message):
                check(!stoppedReading, "a message was delivered after the machine stopped reading")
                check(message.data.readableBytes <= messageLimit,
                      "a message of \(message.data.readableBytes) bytes passed the limit of \(messageLimit)")
                if message.kind == .text {
                    // RFC 6455 §8.1: text is delivered only once it is valid UTF-8.
                    check(String(validating: message.data.readableBytesView, as: UTF8.self) != nil,
                          "a text message that is not UTF-8 was delivered")
                }
                if echoes, machine.canSend {
                    machine.encode(message) { _ in }
                }
            case .deliverFragment(let fragment):
                check(!stoppedReading, "a fragment was delivered after the machine stopped reading")
                check(fragment.data.readableBytes <= messageLimit,
                      "a fragment of \(fragment.data.readableBytes) bytes passed the limit of \(messageLimit)")
            case .write(let bytes):
                check(bytes.readableBytes >= 2, "a write of \(bytes.readableBytes) bytes is no frame")
            case .pongReceived:
                break
            case .shutdownOutput, .closeConnection, .abortConnection:
                stoppedReading = true
            case .scheduleCloseTimeout:
                closeTimeoutScheduled = true
            case .scheduleIdleCheck, .scheduleKeepalivePing, .schedulePongDeadline, .cancelPongDeadline:
                // Timers only with an idle timeout or keepalive, which these runs do not ask for.
                break
            }
        }
        check(machine.bufferedBytes <= bufferLimit + readSize,
              "\(machine.bufferedBytes) bytes buffered, over \(bufferLimit) plus a read of \(readSize)")
    }

    /// Ends the connection as the handler would: close if still open, let the close timeout
    /// fire, then TCP goes away. Nothing may come out afterwards, whatever arrives.
    public mutating func finish() {
        if machine.canSend {
            machine.closeRequested(CloseFrame(code: .normalClosure, reason: "fuzz"))
            drain(readSize: 0)
        }
        if closeTimeoutScheduled {
            machine.closeTimeoutFired()
            drain(readSize: 0)
        }
        let outcome = machine.channelInactive()
        check(machine.isClosed, "not closed after channelInactive")
        check(machine.channelInactive() == outcome, "a second channelInactive changed the outcome")
        machine.bytesReceived(ByteBuffer(bytes: [0x81, 0x00]))
        check(machine.nextAction() == nil, "an action after the connection closed")
    }
}

/// Splits the data into reads whose sizes come from `sizeByte`: 0 sends everything in one read;
/// otherwise reads of that many bytes, so frames straddle reads at every offset.
public func reads(of data: UnsafeBufferPointer<UInt8>, sizeByte: UInt8,
                  _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
    let size = sizeByte == 0 ? max(data.count, 1) : Int(sizeByte)
    var start = 0
    while start < data.count {
        let end = min(start + size, data.count)
        body(UnsafeBufferPointer(rebasing: data[start..<end]))
        start = end
    }
}

/// The body of each target's `<Target>_main`: hands the command line to libFuzzer, which then
/// calls `testOneInput` (the target's `LLVMFuzzerTestOneInput`) for every input.
public func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                         _ testOneInput: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, testOneInput)
}
