import HoldfastChannels
import HoldfastCore
import Testing

/// Regressions from a hostile-client review: a request with a field of the wrong type is a
/// request-level problem (`bad-request`, the connection goes on), as docs/channels-protocol.md's
/// error table says — not a framing error that closes the connection with 1007.
@Suite("Channels decoding — fields of the wrong type")
struct ChannelsDecodeAttackTests {
    @Test("a field of the wrong type is answered with bad-request", arguments: [
        #"{"type":"subscribe","channel":"a","since":{"epoch":"e","offset":-1}}"#,
        #"{"type":"subscribe","channel":"a","since":{"epoch":"e","offset":1.5}}"#,
        #"{"type":"subscribe","channel":"a","since":{"epoch":"e"}}"#,
        #"{"type":"subscribe","channel":"a","since":"e:5"}"#,
        #"{"type":"subscribe","channel":5}"#,
    ])
    func wrongTypeIsBadRequest(_ text: String) throws {
        let decoded: Result<ChannelsClientMessage, ChannelsError>
        do { decoded = try ChannelsClientMessage.decode(.text(text)) } catch {
            Issue.record("\(text) was refused as a framing error (1007): \(error)")
            return
        }
        guard case .failure(let error) = decoded else { Issue.record("\(text) was accepted"); return }
        #expect(error.code == .badRequest)
    }

    @Test("a publish whose id or kind has the wrong type is answered with bad-request")
    func publishWrongTypes() throws {
        for header in [#"{"type":"publish","channel":"a","id":7}"#, #"{"type":"publish","channel":"a","kind":7}"#] {
            let message = WebSocketMessage.binary(Array((header + "\nx").utf8))
            let decoded: Result<ChannelsClientMessage, ChannelsError>
            do { decoded = try ChannelsClientMessage.decode(message) } catch {
                Issue.record("\(header) was refused as a framing error (1007): \(error)")
                continue
            }
            guard case .failure(let error) = decoded else { Issue.record("\(header) was accepted"); continue }
            #expect(error.code == .badRequest)
        }
    }
}
