/// A WebSocket close status code (RFC 6455 §7.4 and the IANA "WebSocket Close Code Number" registry).
///
/// Any `UInt16` can be represented, so that a code read off the wire can be reported as it was;
/// ``isAllowedOnWire`` tells whether a code may actually appear in a close frame.
public struct CloseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The numeric code.
    public let rawValue: UInt16

    /// Wraps a numeric close code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Wraps a numeric close code.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection has been fulfilled.
    public static let normalClosure = CloseCode(1000)
    /// 1001: the endpoint is going away — a server shutting down, a browser leaving the page.
    public static let goingAway = CloseCode(1001)
    /// 1002: the peer broke the protocol.
    public static let protocolError = CloseCode(1002)
    /// 1003: the endpoint cannot accept this kind of data (e.g. binary where only text is understood).
    public static let unsupportedData = CloseCode(1003)
    /// 1004: reserved; never sent.
    public static let reserved = CloseCode(1004)
    /// 1005: reported when a close frame carried no code; never sent.
    public static let noStatusReceived = CloseCode(1005)
    /// 1006: reported when the connection ended without a close frame; never sent.
    public static let abnormalClosure = CloseCode(1006)
    /// 1007: a message's data was not consistent with its type (e.g. text that is not UTF-8).
    public static let invalidFramePayloadData = CloseCode(1007)
    /// 1008: a message violated the endpoint's policy.
    public static let policyViolation = CloseCode(1008)
    /// 1009: a message was too big for the endpoint to process.
    public static let messageTooBig = CloseCode(1009)
    /// 1010: the client expected the server to negotiate an extension it did not.
    public static let mandatoryExtension = CloseCode(1010)
    /// 1011: the server met an unexpected condition.
    public static let internalError = CloseCode(1011)
    /// 1012: the service is restarting.
    public static let serviceRestart = CloseCode(1012)
    /// 1013: the service is overloaded; try again later.
    public static let tryAgainLater = CloseCode(1013)
    /// 1014: a gateway or proxy received an invalid response from the upstream server.
    public static let badGateway = CloseCode(1014)
    /// 1015: reported when the TLS handshake failed; never sent.
    public static let tlsHandshake = CloseCode(1015)
    /// 4001 (private use, Holdfast's own): the browser client `holdfast.js` closes with it when
    /// its page is hidden or unloaded (`pagehide`). Script may only send 1000 or 3000–4999, and
    /// a page's leaving is neither a finished session (1000) nor a failure: servers count it as a
    /// departure. Not retried; the client reconnects itself when the page is shown again.
    public static let pageLeft = CloseCode(4001)

    /// Where a code sits in the code space of RFC 6455 §7.4.2.
    public enum Range: Sendable, Hashable {
        /// 1000–2999: defined by the RFC and the IANA registry (1000–1015 are assigned).
        case protocolDefined
        /// 3000–3999: registered with IANA by libraries, frameworks and applications.
        case registered
        /// 4000–4999: private use by agreement between the endpoints.
        case privateUse
        /// 0–999 and 5000 and above: not used.
        case invalid
    }

    /// The part of the code space this code belongs to.
    public var range: Range {
        switch rawValue {
        case 1000...2999: return .protocolDefined
        case 3000...3999: return .registered
        case 4000...4999: return .privateUse
        default: return .invalid
        }
    }

    /// Whether the code may appear in a close frame on the wire. 1004 is reserved, 1005, 1006 and
    /// 1015 are only ever reported locally, 1016–2999 are unassigned, and codes outside
    /// 1000–4999 are invalid; a received close frame with such a code is a protocol error (1002).
    public var isAllowedOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    /// The IANA name of an assigned code in lowerCamelCase, or a description of its range.
    public var name: String {
        switch rawValue {
        case 1000: return "normalClosure"
        case 1001: return "goingAway"
        case 1002: return "protocolError"
        case 1003: return "unsupportedData"
        case 1004: return "reserved"
        case 1005: return "noStatusReceived"
        case 1006: return "abnormalClosure"
        case 1007: return "invalidFramePayloadData"
        case 1008: return "policyViolation"
        case 1009: return "messageTooBig"
        case 1010: return "mandatoryExtension"
        case 1011: return "internalError"
        case 1012: return "serviceRestart"
        case 1013: return "tryAgainLater"
        case 1014: return "badGateway"
        case 1015: return "tlsHandshake"
        case 4001: return "pageLeft"
        default:
            switch range {
            case .protocolDefined: return "unassigned"
            case .registered: return "registered"
            case .privateUse: return "private"
            case .invalid: return "invalid"
            }
        }
    }

    public var description: String { "\(rawValue) \(name)" }
}
