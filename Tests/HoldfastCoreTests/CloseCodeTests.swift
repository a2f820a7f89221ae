import HoldfastCore
import Testing

@Suite("CloseCode — RFC 6455 §7.4 status codes")
struct CloseCodeTests {
    @Test("§7.4.1/§7.4.2: which codes may appear in a close frame",
          arguments: [
              (UInt16(0), false), (999, false),
              (1000, true), (1001, true), (1002, true), (1003, true),
              (1004, false), (1005, false), (1006, false),
              (1007, true), (1008, true), (1009, true), (1010, true), (1011, true),
              (1012, true), (1013, true), (1014, true),
              (1015, false), (1016, false), (1100, false), (2000, false), (2999, false),
              (3000, true), (3999, true), (4000, true), (4999, true),
              (5000, false), (65535, false),
          ])
    func allowedOnWire(code: UInt16, allowed: Bool) {
        #expect(CloseCode(code).isAllowedOnWire == allowed)
    }

    @Test("IANA names in lowerCamelCase for 1000-1015")
    func assignedNames() {
        let names: [UInt16: String] = [
            1000: "normalClosure", 1001: "goingAway", 1002: "protocolError", 1003: "unsupportedData",
            1004: "reserved", 1005: "noStatusReceived", 1006: "abnormalClosure",
            1007: "invalidFramePayloadData", 1008: "policyViolation", 1009: "messageTooBig",
            1010: "mandatoryExtension", 1011: "internalError", 1012: "serviceRestart", 1013: "tryAgainLater",
            1014: "badGateway", 1015: "tlsHandshake",
        ]
        for (code, name) in names {
            #expect(CloseCode(code).name == name, "\(code)")
            #expect(CloseCode(code).description == "\(code) \(name)")
        }
    }

    @Test("unassigned codes are named after their range")
    func rangeNames() {
        let expected: [(UInt16, CloseCode.Range, String)] = [
            (0, .invalid, "invalid"), (999, .invalid, "invalid"),
            (1016, .protocolDefined, "unassigned"), (2999, .protocolDefined, "unassigned"),
            (3000, .registered, "registered"), (3999, .registered, "registered"),
            (4000, .privateUse, "private"), (4999, .privateUse, "private"),
            (5000, .invalid, "invalid"), (65535, .invalid, "invalid"),
        ]
        for (code, range, name) in expected {
            #expect(CloseCode(code).range == range, "\(code)")
            #expect(CloseCode(code).name == name, "\(code)")
        }
        #expect(CloseCode(1000).range == .protocolDefined)
        #expect(CloseCode(1015).range == .protocolDefined)
    }

    @Test("the named constants carry their numbers")
    func constants() {
        let constants: [(CloseCode, UInt16)] = [
            (.normalClosure, 1000), (.goingAway, 1001), (.protocolError, 1002), (.unsupportedData, 1003),
            (.reserved, 1004), (.noStatusReceived, 1005), (.abnormalClosure, 1006),
            (.invalidFramePayloadData, 1007), (.policyViolation, 1008), (.messageTooBig, 1009),
            (.mandatoryExtension, 1010), (.internalError, 1011), (.serviceRestart, 1012),
            (.tryAgainLater, 1013), (.badGateway, 1014), (.tlsHandshake, 1015),
        ]
        for (code, raw) in constants {
            #expect(code.rawValue == raw)
            #expect(code == CloseCode(rawValue: raw))
        }
    }
}
