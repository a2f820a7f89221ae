import FuzzSupport
import HoldfastCore

/// Frames from a client, as a server without compression receives them (RFC 6455 §5).
///
/// Input: one settings byte, then the bytes from the peer. Settings: bit 0 delivers fragments as
/// they arrive instead of whole messages; bit 1 echoes each message; bits 2–7, when not zero,
/// split the bytes into reads of that many bytes (zero: one read), so that every header and
/// payload is also seen cut at every offset.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let settings = input.takeByte()
    let receiveMode: WebSocketConfiguration.ReceiveMode =
        settings & 1 == 0 ? .messages : .fragments(maxMessageSize: FuzzLimits.maxMessageSize)
    let configuration = WebSocketConfiguration(maxMessageSize: FuzzLimits.maxMessageSize,
                                               maxFrameSize: FuzzLimits.maxFrameSize,
                                               receiveMode: receiveMode, compression: nil)
    var driver = MachineDriver(role: .server, configuration: configuration, compression: nil,
                               echoes: settings & 2 != 0)
    reads(of: input.rest, sizeByte: settings >> 2) { driver.receive($0) }
    driver.finish()
    return 0
}

/// The program's entry: SwiftPM links an executable target with `main` renamed to this name.
@_cdecl("FuzzFrames_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
