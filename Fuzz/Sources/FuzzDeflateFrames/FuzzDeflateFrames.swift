import FuzzSupport
import HoldfastCore

/// Frames from the peer with permessage-deflate agreed (RFC 7692), as a server or a client.
///
/// Input: two settings bytes, then the bytes from the peer. The first byte chooses the role
/// and the extension parameters, which are then agreed through `PerMessageDeflateNegotiation`
/// exactly as the handshake would (a server accepting the offer, a client validating the answer):
/// - bit 0: client instead of server;
/// - bit 1: `client_no_context_takeover`; bit 2: `server_no_context_takeover`;
/// - bits 3–5: 8 plus this is the window size named in `client_max_window_bits` and
///   `server_max_window_bits` (RFC 7692 §7.1.2: 8 to 15);
/// - bit 6: name `server_max_window_bits` at all; bit 7: fragments instead of whole messages.
/// The second: bit 0 echoes each message (the compressor then keeps its context across
/// messages); bits 1–7, when not zero, the size of each read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let choice = input.takeByte()
    let more = input.takeByte()
    let role: Role = choice & 1 == 0 ? .server : .client
    let windowBits = 8 + Int((choice >> 3) & 7)
    var parameters: [WebSocketExtension.Parameter] = []
    if choice & 2 != 0 { parameters.append(.init("client_no_context_takeover")) }
    if choice & 4 != 0 { parameters.append(.init("server_no_context_takeover")) }
    if choice & 0x40 != 0 { parameters.append(.init("server_max_window_bits", value: String(windowBits))) }
    parameters.append(.init("client_max_window_bits", value: String(windowBits)))
    let extensionEntry = WebSocketExtension(name: PerMessageDeflateNegotiation.extensionName, parameters: parameters)

    let settings = PerMessageDeflateConfiguration(maxWindowBits: windowBits, minimumMessageSize: 0)
    let agreed: PerMessageDeflateParameters
    switch role {
    case .server:
        // The client's offer as any client may send it (RFC 7692 §7.1), accepted by our server.
        guard let accepted = PerMessageDeflateNegotiation.accept(offers: [extensionEntry], configuration: settings)
        else {
            fatalError("a valid permessage-deflate offer was declined: \(extensionEntry)")
        }
        agreed = accepted.parameters
    case .client:
        // The server's answer as any server may send it, checked by our client against its offer.
        let offered = PerMessageDeflateConfiguration(peerMaxWindowBits: 15, minimumMessageSize: 0)
        guard let validated = try? PerMessageDeflateNegotiation.validate(response: extensionEntry, offered: offered)
        else {
            // An answer the offer does not allow: the handshake fails, no connection to fuzz.
            return 0
        }
        agreed = validated
    }

    let receiveMode: WebSocketConfiguration.ReceiveMode =
        choice & 0x80 == 0 ? .messages : .fragments(maxMessageSize: FuzzLimits.maxMessageSize)
    let configuration = WebSocketConfiguration(maxMessageSize: FuzzLimits.maxMessageSize,
                                               maxFrameSize: FuzzLimits.maxFrameSize,
                                               receiveMode: receiveMode, compression: settings)
    var driver = MachineDriver(role: role, configuration: configuration, compression: agreed,
                               echoes: more & 1 != 0)
    reads(of: input.rest, sizeByte: more >> 1) { driver.receive($0) }
    driver.finish()
    return 0
}

/// The program's entry: SwiftPM links an executable target with `main` renamed to this name.
@_cdecl("FuzzDeflateFrames_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
