import Foundation
import HoldfastCore
import NIOCore

/// The longest publish id, in UTF-8 bytes: the server remembers each for a while.
public let maxPublishIDLength = 128

/// The WebSocket subprotocol of Holdfast channels, offered by clients in
/// `Sec-WebSocket-Protocol`; a connection that did not agree on it is a plain WebSocket.
public let channelsSubprotocol = "holdfast.channels.v1"

/// A message from a client to the server (see `docs/channels-protocol.md`).
public enum ChannelsClientMessage: Sendable, Hashable {
    /// Start receiving `channel`; with `since`, first everything after that position.
    case subscribe(channel: ChannelName, since: StreamPosition?)
    /// Stop receiving `channel`.
    case unsubscribe(channel: ChannelName)
    /// Append `message` to `channel`'s stream. With an `id`, a repeat of the same id on the
    /// channel within the server's window is acknowledged with the first one's offset and
    /// stored once.
    case publish(channel: ChannelName, id: String?, message: WebSocketMessage)
}

/// The answer to a subscribe: where the stream stands and what the replay covers.
public struct ChannelSubscribed: Sendable, Hashable {
    /// The channel subscribed to.
    public var channel: ChannelName
    /// The stream's epoch and its last offset when the subscription began; the replay ends there
    /// and live publications follow it.
    public var position: StreamPosition
    /// Whether everything after the requested position follows: `nil` when no position was asked
    /// for, `false` when part of it is gone (another epoch, trimmed history, over the replay limit).
    public var recovered: Bool?
    /// The first offset delivered on this subscription (replayed or live).
    public var from: UInt64

    /// An answer to a subscribe to `channel`.
    public init(channel: ChannelName, position: StreamPosition, recovered: Bool?, from: UInt64) {
        self.channel = channel
        self.position = position
        self.recovered = recovered
        self.from = from
    }
}

/// The answer to a publish: where the message stands.
public struct ChannelPublishAck: Sendable, Hashable {
    /// The id the publish carried, if any.
    public var id: String?
    /// The channel published to.
    public var channel: ChannelName
    /// The publication's place in the stream.
    public var position: StreamPosition
    /// Whether an earlier publish with the same id was stored already (this one was not).
    public var duplicate: Bool

    /// An acknowledgement of a publish to `channel` at `position`.
    public init(id: String?, channel: ChannelName, position: StreamPosition, duplicate: Bool) {
        self.id = id
        self.channel = channel
        self.position = position
        self.duplicate = duplicate
    }
}

/// A message from the server to a client (see `docs/channels-protocol.md`).
public enum ChannelsServerMessage: Sendable, Hashable {
    /// A subscribe took effect.
    case subscribed(ChannelSubscribed)
    /// An unsubscribe took effect.
    case unsubscribed(channel: ChannelName)
    /// A message of a subscribed channel, replayed or live, in offset order.
    case publication(ChannelPublication)
    /// A publish was stored.
    case ack(ChannelPublishAck)
    /// A request was refused.
    case error(ChannelsError)
}

/// A WebSocket message that is not a message of the channels protocol at all; the server closes
/// the connection with 1007 (invalid data) and this as the reason.
public struct ChannelsFramingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, for people.
    public var description: String

    init(_ description: String) { self.description = description }
}

// MARK: - The wire form

/// Every field a message of either direction may carry: each message is one JSON object, and in
/// a binary WebSocket message that object is followed by a line feed and the payload's raw bytes.
private struct Envelope: Codable {
    var type: String?
    var channel: String?
    var id: String?
    var kind: String?
    var since: StreamPosition?
    var epoch: String?
    var offset: UInt64?
    var recovered: Bool?
    var from: UInt64?
    var duplicate: Bool?
    var code: String?
    var reason: String?
}

private let lineFeed = UInt8(ascii: "\n")

private enum Wire {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode(_ envelope: Envelope) -> [UInt8] {
        // Every field is a string, number or boolean: encoding cannot fail.
        (try? encoder.encode(envelope)).map { Array($0) } ?? []
    }

    /// A text message of `envelope` alone.
    static func text(_ envelope: Envelope) -> WebSocketMessage {
        .text(String(decoding: encode(envelope), as: UTF8.self))
    }

    /// A binary message of `envelope`, a line feed and `payload`'s bytes.
    static func binary(_ envelope: Envelope, payload: WebSocketMessage) -> WebSocketMessage {
        let header = encode(envelope)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(header.count + 1 + payload.data.readableBytes)
        buffer.writeBytes(header)
        buffer.writeInteger(lineFeed)
        var data = payload.data
        buffer.writeBuffer(&data)
        return .binary(buffer)
    }

    /// A JSON object whose fields do not have the protocol's types: a request-level problem.
    struct WrongField: Error {
        /// The field's path, e.g. `since.offset`.
        let path: String
        /// The fields of the object that still read, to name the request in the answer.
        let channel: String?
        let id: String?
    }

    /// The envelope and, for a binary message, the payload after the line feed.
    /// - Throws: ``ChannelsFramingError`` when it is not a JSON object at all, ``WrongField``
    ///   when it is one with a field of the wrong type.
    static func decode(_ message: WebSocketMessage) throws -> (Envelope, ByteBuffer?) {
        var data = message.data
        let header: ByteBuffer
        var payload: ByteBuffer?
        switch message.kind {
        case .text:
            header = data
        case .binary:
            guard let end = data.readableBytesView.firstIndex(of: lineFeed) else {
                throw ChannelsFramingError("a binary message must be a JSON header, a line feed and the payload")
            }
            header = data.readSlice(length: end - data.readerIndex) ?? ByteBuffer()
            data.moveReaderIndex(forwardBy: 1)
            payload = data
        }
        let json = Data(header.readableBytesView)
        do {
            return (try JSONDecoder().decode(Envelope.self, from: json), payload)
        } catch {
            guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw ChannelsFramingError("not a JSON object of the channels protocol")
            }
            var path = "a field"
            if case DecodingError.typeMismatch(_, let context) = error {
                path = context.codingPath.map(\.stringValue).joined(separator: ".")
            } else if case DecodingError.keyNotFound(let key, let context) = error {
                path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            } else if case DecodingError.dataCorrupted(let context) = error {
                path = context.codingPath.map(\.stringValue).joined(separator: ".")
            }
            throw WrongField(path: path, channel: object["channel"] as? String, id: object["id"] as? String)
        }
    }

    /// The payload as a message of `kind`, in a buffer of its own: a slice would keep the whole
    /// received message (header and all) alive for as long as the payload is stored or waits.
    static func payload(_ slice: ByteBuffer, kind: String?) -> WebSocketMessage? {
        var bytes = ByteBufferAllocator().buffer(capacity: slice.readableBytes)
        bytes.writeImmutableBuffer(slice)
        switch kind {
        case "text":
            guard String(validating: bytes.readableBytesView, as: UTF8.self) != nil else { return nil }
            return WebSocketMessage(kind: .text, data: bytes)
        case "binary", nil:
            return WebSocketMessage(kind: .binary, data: bytes)
        default:
            return nil
        }
    }

    static func kindName(_ message: WebSocketMessage) -> String { message.kind == .text ? "text" : "binary" }
}

extension ChannelsClientMessage {
    /// The message as a client sends it: subscribe and unsubscribe as text, publish as binary.
    public var encoded: WebSocketMessage {
        switch self {
        case .subscribe(let channel, let since):
            return Wire.text(Envelope(type: "subscribe", channel: channel.value, since: since))
        case .unsubscribe(let channel):
            return Wire.text(Envelope(type: "unsubscribe", channel: channel.value))
        case .publish(let channel, let id, let message):
            return Wire.binary(Envelope(type: "publish", channel: channel.value, id: id, kind: Wire.kindName(message)),
                               payload: message)
        }
    }

    /// Reads a client's message: the message, or the error that answers it.
    /// - Throws: ``ChannelsFramingError`` when it is not a channels message at all.
    public static func decode(_ message: WebSocketMessage) throws(ChannelsFramingError)
        -> Result<ChannelsClientMessage, ChannelsError>
    {
        let envelope: Envelope
        let payload: ByteBuffer?
        do {
            (envelope, payload) = try Wire.decode(message)
        } catch let wrong as Wire.WrongField {
            return .failure(ChannelsError(.badRequest, "\(wrong.path) has the wrong type or is missing",
                                          channel: wrong.channel, publishID: wrong.id))
        } catch let framing as ChannelsFramingError {
            throw framing
        } catch {
            throw ChannelsFramingError("not a JSON object of the channels protocol")
        }
        func refused(_ code: ChannelsErrorCode, _ reason: String) -> Result<ChannelsClientMessage, ChannelsError> {
            .failure(ChannelsError(code, reason, channel: envelope.channel, publishID: envelope.id))
        }
        guard let type = envelope.type else { return refused(.badRequest, "a message needs a \"type\"") }
        let known = ["subscribe", "unsubscribe", "publish"]
        guard known.contains(type) else {
            return refused(.unknownType, "unknown message type \"\(type.escapingControlCharacters)\"")
        }
        guard let name = envelope.channel else { return refused(.badRequest, "\(type) needs a \"channel\"") }
        let channel: ChannelName
        do { channel = try ChannelName(validating: name) } catch { return refused(.invalidChannel, error.description) }
        switch type {
        case "subscribe":
            return .success(.subscribe(channel: channel, since: envelope.since))
        case "unsubscribe":
            return .success(.unsubscribe(channel: channel))
        default:
            guard let payload else { return refused(.badRequest, "publish is a binary message: header, line feed, payload") }
            if let id = envelope.id, id.utf8.count > maxPublishIDLength {
                return refused(.badRequest, "a publish id may be at most \(maxPublishIDLength) bytes")
            }
            guard let published = Wire.payload(payload, kind: envelope.kind) else {
                return refused(.badRequest, "the payload is not of kind \"\((envelope.kind ?? "").escapingControlCharacters)\"")
            }
            return .success(.publish(channel: channel, id: envelope.id, message: published))
        }
    }
}

extension ChannelsServerMessage {
    /// The message as the server sends it: publications as binary, the rest as text.
    public var encoded: WebSocketMessage {
        switch self {
        case .subscribed(let answer):
            return Wire.text(Envelope(type: "subscribed", channel: answer.channel.value, epoch: answer.position.epoch,
                                      offset: answer.position.offset, recovered: answer.recovered, from: answer.from))
        case .unsubscribed(let channel):
            return Wire.text(Envelope(type: "unsubscribed", channel: channel.value))
        case .publication(let publication):
            return Wire.binary(Envelope(type: "publication", channel: publication.channel.value,
                                        kind: Wire.kindName(publication.message), epoch: publication.position.epoch,
                                        offset: publication.position.offset),
                               payload: publication.message)
        case .ack(let ack):
            return Wire.text(Envelope(type: "ack", channel: ack.channel.value, id: ack.id, epoch: ack.position.epoch,
                                      offset: ack.position.offset, duplicate: ack.duplicate))
        case .error(let error):
            return Wire.text(Envelope(type: "error", channel: error.channel, id: error.publishID,
                                      code: error.code.rawValue, reason: error.reason))
        }
    }

    /// Reads a server's message.
    /// - Throws: ``ChannelsFramingError`` when it is not a channels message this version reads.
    public static func decode(_ message: WebSocketMessage) throws(ChannelsFramingError) -> ChannelsServerMessage {
        let envelope: Envelope
        let payload: ByteBuffer?
        do {
            (envelope, payload) = try Wire.decode(message)
        } catch let wrong as Wire.WrongField {
            throw ChannelsFramingError("\(wrong.path) has the wrong type or is missing")
        } catch let framing as ChannelsFramingError {
            throw framing
        } catch {
            throw ChannelsFramingError("not a JSON object of the channels protocol")
        }
        func channel() throws(ChannelsFramingError) -> ChannelName {
            do { return try ChannelName(validating: envelope.channel ?? "") } catch {
                throw ChannelsFramingError("\(envelope.type ?? "a message") names no valid channel")
            }
        }
        func position() throws(ChannelsFramingError) -> StreamPosition {
            guard let epoch = envelope.epoch, let offset = envelope.offset else {
                throw ChannelsFramingError("\(envelope.type ?? "a message") needs an epoch and an offset")
            }
            return StreamPosition(epoch: epoch, offset: offset)
        }
        switch envelope.type {
        case "subscribed":
            guard let from = envelope.from else { throw ChannelsFramingError("subscribed needs \"from\"") }
            return .subscribed(ChannelSubscribed(channel: try channel(), position: try position(),
                                                 recovered: envelope.recovered, from: from))
        case "unsubscribed":
            return .unsubscribed(channel: try channel())
        case "publication":
            guard let payload, let published = Wire.payload(payload, kind: envelope.kind) else {
                throw ChannelsFramingError("a publication is a binary message with a payload of its kind")
            }
            return .publication(ChannelPublication(channel: try channel(), position: try position(), message: published))
        case "ack":
            return .ack(ChannelPublishAck(id: envelope.id, channel: try channel(), position: try position(),
                                          duplicate: envelope.duplicate ?? false))
        case "error":
            return .error(ChannelsError(ChannelsErrorCode(rawValue: envelope.code ?? ""), envelope.reason ?? "",
                                        channel: envelope.channel, publishID: envelope.id))
        default:
            throw ChannelsFramingError("unknown message type \"\((envelope.type ?? "").escapingControlCharacters)\"")
        }
    }
}
