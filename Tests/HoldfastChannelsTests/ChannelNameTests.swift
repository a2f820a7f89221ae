import HoldfastChannels
import Testing

@Suite struct ChannelNameTests {
    @Test func acceptsNamesUpToTheLimit() throws {
        let longest = String(repeating: "a", count: ChannelName.maxLength)
        #expect(try ChannelName(validating: longest).value == longest)
        #expect(try ChannelName(validating: "rooms/ñandú").value == "rooms/ñandú")
    }

    @Test func refusesEmptyLongAndControlNames() {
        #expect(throws: ChannelName.Invalid.empty) { try ChannelName(validating: "") }
        #expect(throws: ChannelName.Invalid.tooLong(201)) { try ChannelName(validating: String(repeating: "a", count: 201)) }
        #expect(throws: ChannelName.Invalid.controlCharacter) { try ChannelName(validating: "a\nb") }
        #expect(throws: ChannelName.Invalid.controlCharacter) { try ChannelName(validating: "a\u{7F}b") }
        #expect(throws: ChannelName.Invalid.controlCharacter) { try ChannelName(validating: "next\u{85}line") }
    }
}
