import HoldfastChannels
import HoldfastCore
import NIOCore

/// Builds publishes cheaply: the library encodes each channel's header once (a publish of an
/// empty binary payload is exactly header and line feed), and every publish is that header and
/// a fresh payload.
struct PublishEncoder: Sendable {
    /// The smallest payload: the send timestamp and the sequence number, 8 bytes each.
    static let minimumPayload = 16
    private let headers: [ByteBuffer]
    private let filler: [UInt8]

    init(channels: [ChannelName], payloadSize: Int) {
        headers = channels.map {
            ChannelsClientMessage.publish(channel: $0, id: nil, message: WebSocketMessage(kind: .binary, data: ByteBuffer())).encoded.data
        }
        filler = [UInt8](repeating: UInt8(ascii: "x"), count: max(0, payloadSize - Self.minimumPayload))
    }

    /// Publish number `sequence` to the channel at `channelIndex`, stamped with `sentAt`.
    func publish(channelIndex: Int, sequence: UInt64, sentAt: UInt64) -> WebSocketMessage {
        var header = headers[channelIndex]
        var buffer = ByteBuffer()
        buffer.reserveCapacity(header.readableBytes + Self.minimumPayload + filler.count)
        buffer.writeBuffer(&header)
        buffer.writeInteger(sentAt)
        buffer.writeInteger(sequence)
        buffer.writeBytes(filler)
        return WebSocketMessage(kind: .binary, data: buffer)
    }
}

/// What a subscriber needs from a publication, read without JSON decoding: a million
/// deliveries a second through `JSONDecoder` would cost the client more CPU than the server.
struct FastPublication {
    var offset: UInt64
    /// The publisher's timestamp, when the payload carries one.
    var sentAt: UInt64?
}

private let lineFeed = UInt8(ascii: "\n")
private let offsetKey = Array("\"offset\":".utf8)
private let publicationEnding = Array("\"type\":\"publication\"}".utf8)

extension FastPublication {
    /// Reads a binary message whose header (sorted keys, as the library writes them) ends with
    /// `"type":"publication"}`; `nil` for anything else, which the caller decodes in full.
    init?(_ message: WebSocketMessage) {
        guard message.kind == .binary else { return nil }
        let bytes = message.data.readableBytesView
        guard let end = bytes.firstIndex(of: lineFeed) else { return nil }
        let header = bytes[bytes.startIndex..<end]
        guard header.count > publicationEnding.count,
              header.suffix(publicationEnding.count).elementsEqual(publicationEnding),
              let keyStart = Self.find(offsetKey, in: header)
        else { return nil }
        var value: UInt64 = 0
        var index = keyStart + offsetKey.count
        var digits = 0
        while index < end, case let byte = header[index], byte >= 0x30, byte <= 0x39, digits < 16 {
            value = value * 10 + UInt64(byte - 0x30)
            index += 1
            digits += 1
        }
        guard digits > 0 else { return nil }
        offset = value
        // A ByteBufferView's indices are the buffer's own.
        let payloadStart = end + 1
        sentAt = message.data.getInteger(at: payloadStart, as: UInt64.self)
    }

    private static func find(_ needle: [UInt8], in haystack: ByteBufferView.SubSequence) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
