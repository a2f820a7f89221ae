// hb-echo-deflate: a Hummingbird 2 + hummingbird-websocket echo server for
// scripts/bench-deflate-tls.sh, with permessage-deflate and TLS as options.
//
// Usage: hb-echo-deflate --port P [--threads N] [--deflate] [--tls-cert PEM --tls-key PEM]
//                        [--max-message-size BYTES]
// Listens on 127.0.0.1 (env HOST to change). Echoes every text and binary message with its type.
// --deflate offers hummingbird-websocket's permessage-deflate extension with its defaults (no
// window limit, context takeover, messages of 256 bytes and more compressed), the decompressed
// size bounded by --max-message-size instead of the extension's 16 KiB default.
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWSCompression
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import NIOSSL

struct Options {
    var port = 8080
    var threads = 1
    var deflate = false
    var certificate: String?
    var key: String?
    var maxMessageSize = 128 << 20

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var rest = arguments.dropFirst()
        func value(_ flag: String) -> String {
            guard let next = rest.popFirst() else { fail("\(flag) needs a value") }
            return next
        }
        func integer(_ flag: String) -> Int {
            guard let number = Int(value(flag)), number > 0 else { fail("\(flag) needs a positive integer") }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--port": options.port = integer(argument)
            case "--threads": options.threads = integer(argument)
            case "--deflate": options.deflate = true
            case "--tls-cert": options.certificate = value(argument)
            case "--tls-key": options.key = value(argument)
            case "--max-message-size": options.maxMessageSize = integer(argument)
            default: fail("unknown argument \(argument)")
            }
        }
        if (options.certificate == nil) != (options.key == nil) { fail("--tls-cert and --tls-key go together") }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("hb-echo-deflate: \(message)\n".utf8))
    exit(2)
}

let options = Options.parse(CommandLine.arguments)
let host = ProcessInfo.processInfo.environment["HOST"] ?? "127.0.0.1"
let maxSize = options.maxMessageSize
var logger = Logger(label: "hb-echo-deflate")
logger.logLevel = .error

let extensions: [WebSocketExtensionFactory] =
    options.deflate ? [.perMessageDeflate(maxDecompressedFrameSize: maxSize)] : []
let webSocket = HTTPServerBuilder.http1WebSocketUpgrade(
    configuration: .init(maxFrameSize: maxSize, extensions: extensions, autoPing: .disabled),
    shouldUpgrade: { (_: HTTPRequest, _: any Channel, _: Logger) throws in
    .upgrade([:]) { inbound, outbound, _ in
        for try await message in inbound.messages(maxSize: maxSize) {
            switch message {
            case .binary(let buffer): try await outbound.write(.binary(buffer))
            case .text(let string): try await outbound.write(.text(string))
            }
        }
    }
})

let server: HTTPServerBuilder
if let certificate = options.certificate, let key = options.key {
    do {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        server = try .tls(webSocket, tlsConfiguration: tls)
    } catch {
        fail("TLS: \(error)")
    }
} else {
    server = webSocket
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
let app = Application(
    router: Router(),
    server: server,
    configuration: .init(address: .hostname(host, port: options.port), serverName: nil),
    eventLoopGroupProvider: .shared(group),
    logger: logger
)
FileHandle.standardOutput.write(Data(("hb-echo-deflate listening on \(options.certificate == nil ? "ws" : "wss")://"
    + "\(host):\(options.port) threads=\(options.threads) deflate=\(options.deflate)\n").utf8))
try await app.runService()
