import Foundation
import HoldfastChannels
import HoldfastCore
import NIOCore
import Testing

/// The examples of `docs/channels-protocol.md` are the protocol: each decodes, and encodes again
/// to the same bytes.
@Suite struct ChannelsProtocolDocumentTests {
    /// The examples, as the WebSocket messages they stand for, in document order.
    static func examples() throws -> [WebSocketMessage] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/channels-protocol.md"), encoding: .utf8)
        var examples: [WebSocketMessage] = []
        var block: (kind: String, lines: [String])?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if let open = block {
                if line == "```" {
                    if open.kind == "text" {
                        examples.append(.text(open.lines.joined(separator: "\n")))
                    } else {
                        examples.append(.binary(Array((open.lines[0] + "\n" + open.lines.dropFirst().joined(separator: "\n")).utf8)))
                    }
                    block = nil
                } else {
                    block?.lines.append(line)
                }
            } else if line.hasPrefix("```channels-") {
                block = (String(line.dropFirst("```channels-".count)), [])
            }
        }
        return examples
    }

    @Test func everyExampleRoundTrips() throws {
        let examples = try Self.examples()
        #expect(examples.count == 8)
        for (index, example) in examples.enumerated() {
            let header = try #require(String(decoding: example.data.readableBytesView, as: UTF8.self).split(separator: "\n").first)
            let encoded: WebSocketMessage
            if header.contains(#""type":"subscribe""#) || header.contains(#""type":"unsubscribe""#)
                || header.contains(#""type":"publish""#)
            {
                encoded = try ChannelsClientMessage.decode(example).get().encoded
            } else {
                encoded = try ChannelsServerMessage.decode(example).encoded
            }
            #expect(encoded == example, "example \(index + 1): \(header)")
        }
    }

    @Test func examplesMeanWhatTheTextSays() throws {
        let examples = try Self.examples()
        let epoch = "3f9a0c1b2d4e5f60"
        #expect(try ChannelsClientMessage.decode(examples[0]).get()
                == .subscribe(channel: "room", since: StreamPosition(epoch: epoch, offset: 41)))
        #expect(try ChannelsClientMessage.decode(examples[2]).get()
                == .publish(channel: "room", id: "c7e2-18", message: .text("hello, room")))
        #expect(try ChannelsServerMessage.decode(examples[3]) == .subscribed(ChannelSubscribed(
            channel: "room", position: StreamPosition(epoch: epoch, offset: 57), recovered: true, from: 42)))
        #expect(try ChannelsServerMessage.decode(examples[4]) == .publication(ChannelPublication(
            channel: "room", position: StreamPosition(epoch: epoch, offset: 42), message: .text("hello, room"))))
        guard case .error(let error) = try ChannelsServerMessage.decode(examples[7]) else {
            Issue.record("the last example is an error")
            return
        }
        #expect(error.code == .offsetFromFuture)
        #expect(!error.code.isRetryable)
    }
}
