import Testing
import HoldfastCore

@Test func placeholder() { #expect(CloseCode.normalClosure.rawValue == 1000) }
