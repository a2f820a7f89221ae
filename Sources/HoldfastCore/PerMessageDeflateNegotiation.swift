/// The negotiation of permessage-deflate in the opening handshake (RFC 7692 §5, §7.1): the
/// client's offer, the server's choice among offers and its answer, and the client's check of it.
public enum PerMessageDeflateNegotiation {
    /// The extension's registered name.
    public static let extensionName = "permessage-deflate"

    /// A client's offer for `configuration`. It always says the client can limit its own window
    /// (a bare `client_max_window_bits`), so the server may ask it to.
    public static func offer(_ configuration: PerMessageDeflateConfiguration) -> WebSocketExtension {
        var parameters: [WebSocketExtension.Parameter] = []
        if configuration.noContextTakeover { parameters.append(.init("client_no_context_takeover")) }
        if configuration.peerNoContextTakeover { parameters.append(.init("server_no_context_takeover")) }
        if configuration.peerMaxWindowBits < 15 {
            parameters.append(.init("server_max_window_bits", value: String(configuration.peerMaxWindowBits)))
        }
        parameters.append(.init("client_max_window_bits",
                                value: configuration.maxWindowBits < 15 ? String(configuration.maxWindowBits) : nil))
        return WebSocketExtension(name: extensionName, parameters: parameters)
    }

    /// The server's choice: the first permessage-deflate offer among `offers` it can accept, with
    /// the answer to put in `Sec-WebSocket-Extensions` and what was agreed. An offer with an
    /// unknown, repeated or out-of-range parameter is declined and the next one considered
    /// (RFC 7692 §5.1); `nil` when none is acceptable — the connection then goes on uncompressed.
    public static func accept(offers: [WebSocketExtension], configuration: PerMessageDeflateConfiguration)
        -> (response: WebSocketExtension, parameters: PerMessageDeflateParameters)?
    {
        for offer in offers where offer.name.lowercased() == extensionName {
            guard let requested = try? Parameters(offer.parameters) else { continue }
            var response: [WebSocketExtension.Parameter] = []
            var agreed = PerMessageDeflateParameters()
            // §7.1.1.1: the server may start every message afresh even when not asked to.
            agreed.ownNoContextTakeover = requested.serverNoContextTakeover || configuration.noContextTakeover
            if agreed.ownNoContextTakeover { response.append(.init("server_no_context_takeover")) }
            // §7.1.1.2: the server may ask the client to, offered or not.
            agreed.peerNoContextTakeover = requested.clientNoContextTakeover || configuration.peerNoContextTakeover
            if agreed.peerNoContextTakeover { response.append(.init("client_no_context_takeover")) }
            // §7.1.2.1: a window the client limits must be answered with a value no larger. A smaller
            // window of our own needs no announcement: any decoder takes it.
            if let limit = requested.serverMaxWindowBits {
                agreed.ownMaxWindowBits = min(limit, configuration.maxWindowBits)
                response.append(.init("server_max_window_bits", value: String(agreed.ownMaxWindowBits)))
            } else {
                agreed.ownMaxWindowBits = configuration.maxWindowBits
            }
            // §7.1.2.2: only a client that offered client_max_window_bits may be asked to limit it.
            switch requested.clientMaxWindowBits {
            case .notOffered:
                agreed.peerMaxWindowBits = 15
            case .supported(let offeredLimit):
                let limit = min(offeredLimit ?? 15, configuration.peerMaxWindowBits)
                agreed.peerMaxWindowBits = limit
                // Stated whenever it limits the client, even to the value it offered, so that the
                // client cannot read a bare answer as leave to use 15 bits.
                if limit < 15 {
                    response.append(.init("client_max_window_bits", value: String(limit)))
                }
            }
            return (WebSocketExtension(name: extensionName, parameters: response), agreed)
        }
        return nil
    }

    /// The client's check of the server's answer to ``offer(_:)`` (RFC 7692 §7.1): what was
    /// agreed, or why the answer is not one the offer allows.
    /// - Throws: a reason when a parameter is unknown, repeated, out of range, or not allowed by
    ///   the offer.
    public static func validate(response: WebSocketExtension, offered configuration: PerMessageDeflateConfiguration)
        throws(ParameterError) -> PerMessageDeflateParameters
    {
        let answered = try Parameters(response.parameters)
        var agreed = PerMessageDeflateParameters()
        agreed.ownNoContextTakeover = answered.clientNoContextTakeover || configuration.noContextTakeover
        if configuration.peerNoContextTakeover, !answered.serverNoContextTakeover {
            // §7.1.1.1: a server that does not accept server_no_context_takeover declines the offer.
            throw ParameterError(reason: "the answer lacks the server_no_context_takeover that was offered")
        }
        agreed.peerNoContextTakeover = answered.serverNoContextTakeover
        if let limit = answered.serverMaxWindowBits {
            if configuration.peerMaxWindowBits < 15, limit > configuration.peerMaxWindowBits {
                throw ParameterError(reason: "server_max_window_bits=\(limit) exceeds the \(configuration.peerMaxWindowBits) offered")
            }
            agreed.peerMaxWindowBits = limit
        } else {
            // A server accepting a limit must state it (§7.1.2.1); one that did not may use the
            // full window, which a 15-bit decoder takes whatever the server actually does.
            agreed.peerMaxWindowBits = 15
        }
        switch answered.clientMaxWindowBits {
        case .notOffered:
            agreed.ownMaxWindowBits = configuration.maxWindowBits
        case .supported(nil):
            throw ParameterError(reason: "client_max_window_bits in an answer needs a value")
        case .supported(let limit?):
            agreed.ownMaxWindowBits = min(limit, configuration.maxWindowBits)
        }
        return agreed
    }

    /// A permessage-deflate parameter list that breaks RFC 7692 §7.1.
    public struct ParameterError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What was wrong.
        public let reason: String
        public var description: String { "invalid permessage-deflate parameters: \(reason)" }
    }

    /// The four parameters of RFC 7692 §7.1, validated.
    private struct Parameters {
        enum ClientWindow {
            case notOffered
            /// Offered, with a limit when a value was given.
            case supported(Int?)
        }

        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int?
        var clientMaxWindowBits = ClientWindow.notOffered

        init(_ parameters: [WebSocketExtension.Parameter]) throws(ParameterError) {
            var seen: Set<String> = []
            for parameter in parameters {
                let name = parameter.name.lowercased()
                // §7: "A server MUST decline an extension negotiation offer ... if ... has
                // multiple parameters with the same name."
                guard seen.insert(name).inserted else { throw ParameterError(reason: "\(name) appears twice") }
                switch name {
                case "server_no_context_takeover", "client_no_context_takeover":
                    guard parameter.value == nil else { throw ParameterError(reason: "\(name) takes no value") }
                    if name == "server_no_context_takeover" {
                        serverNoContextTakeover = true
                    } else {
                        clientNoContextTakeover = true
                    }
                case "server_max_window_bits":
                    guard let value = parameter.value else { throw ParameterError(reason: "\(name) needs a value") }
                    serverMaxWindowBits = try Self.windowBits(value, name: name)
                case "client_max_window_bits":
                    clientMaxWindowBits = .supported(try parameter.value.map { value throws(ParameterError) in
                        try Self.windowBits(value, name: name)
                    })
                default:
                    throw ParameterError(reason: "unknown parameter \(parameter.name)")
                }
            }
        }

        /// §7.1.2: a window size is a decimal integer from 8 to 15.
        private static func windowBits(_ value: String, name: String) throws(ParameterError) -> Int {
            guard value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let bits = Int(value), (8...15).contains(bits)
            else { throw ParameterError(reason: "\(name)=\(value) is not a window size from 8 to 15") }
            return bits
        }
    }
}
