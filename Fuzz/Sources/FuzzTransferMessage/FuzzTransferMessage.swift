import FuzzSupport
import HoldfastTransfer
import NIOCore

/// A binary message's payload as the transfer protocol decodes it (docs/transfer-protocol.md).
///
/// Whatever decodes must encode back to bytes that decode to the same value: the sender and
/// the receiver use the same two functions, so a value that does not survive the round trip is
/// a message one side sends and the other misreads. Throwing on malformed input is expected.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    guard let message = try? TransferMessage(decoding: payload) else { return 0 }
    let encoded = message.encoded()
    let again: TransferMessage
    do {
        again = try TransferMessage(decoding: encoded)
    } catch {
        fatalError("\(message) encodes to \(Array(encoded.readableBytesView)), which does not decode: \(error)")
    }
    check(again == message, "\(message) encodes to bytes that decode to \(again)")
    // A decoded value is only what its bytes said, so its encoding is never longer than them.
    check(encoded.readableBytes <= size, "\(message) encodes to \(encoded.readableBytes) bytes from \(size)")
    _ = message.id
    return 0
}

/// The program's entry: SwiftPM links an executable target with `main` renamed to this name.
@_cdecl("FuzzTransferMessage_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
