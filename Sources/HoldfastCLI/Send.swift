import ArgumentParser
import Foundation
import Holdfast
import HoldfastTransfer

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a file as a chunked, verified transfer that resumes across reconnects and restarts.",
        discussion: """
            The file goes as chunks that fit the server's message limit (announced by a Holdfast \
            server, or learned from a 1009 close, after which the chunk size is lowered), with a \
            window of unacknowledged chunks in flight. When the connection is lost (a restart's \
            1001, a network failure's 1006) the tool reconnects with backoff and resumes from the \
            offset the receiver holds; run again after being stopped, it resumes too (the \
            transfer's id comes from the file's name, size and SHA-256). It exits 0 only once the \
            receiver confirmed the digest; a refusal (a limit, a bad name) or a digest mismatch \
            is one line on stderr and exit 1.

            Chunks go uncompressed unless --compress: most files big enough to need a transfer \
            (archives, media, images) are compressed already, and deflate would cost more CPU than \
            it saves; text-like files gain from it. wss:// takes the TLS and proxy options.

            Progress is a bar on stderr when it is a terminal, else a line every 10%. \
            The receiver is 'holdfast serve --mode files --files-dir DIR', or any server whose \
            handler runs a TransferReceiver.

            Examples:
              holdfast send ws://127.0.0.1:8080/ backup.tar
              holdfast send ws://files.local:9001/ video.mp4 --name holiday.mp4
              holdfast send ws://127.0.0.1:8080/ disk.img --chunk-size 262144
              holdfast send wss://files.example:8443/ logs.txt --compress --ca ca.pem
            """
    )

    @Argument(help: "ws:// or wss:// URL of the receiving server.")
    var url: String

    @Argument(help: "The file to send.")
    var file: String

    @OptionGroup(title: "TLS and proxy")
    var connection: ClientConnectionOptions

    @Flag(help: "Offer permessage-deflate, for files that compress (text, logs); off by default.")
    var compress = false

    @Option(name: .customLong("chunk-size"),
            help: "Data bytes per chunk to start with (lowered to fit the server's limit).")
    var chunkSize = 1 << 20

    @Option(help: "Bytes in flight without acknowledgement.")
    var window = 4 << 20

    @Option(help: "Name for the receiver (default: the file's name).")
    var name: String?

    @Option(name: .customLong("max-attempts"), help: "Reconnection attempts in a row before giving up.")
    var maxAttempts = 10

    func run() async throws {
        let parsedURL = try ConnectionFailure.checkedURL(url)
        guard chunkSize > 0 else { throw Terminal.fail("--chunk-size must be a positive number of bytes, not \(chunkSize)") }
        guard window > 0 else { throw Terminal.fail("--window must be a positive number of bytes, not \(window)") }
        guard maxAttempts >= 0 else { throw Terminal.fail("--max-attempts must not be negative") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw Terminal.fail("no such file: \(file)")
        }
        guard !isDirectory.boolValue else { throw Terminal.fail("\(file) is a directory; send a file") }
        let source: TransferSource
        do {
            source = try await TransferSource.file(atPath: file, name: name)
        } catch {
            throw Terminal.fail("cannot read \(file): \(error)")
        }
        var clientConfiguration = WebSocketClientConfiguration(
            webSocket: WebSocketConfiguration(compression: compress ? PerMessageDeflateConfiguration() : nil))
        try connection.apply(to: &clientConfiguration, for: parsedURL)
        let client = ReconnectingWebSocket(
            url: url, configuration: .init(client: clientConfiguration,
                                           policy: ReconnectPolicy(maximumAttempts: maxAttempts)))
        let sender = TransferSender(client: client, configuration: .init(chunkSize: chunkSize, window: window))
        let display = TransferDisplay(size: source.size, isTerminal: isatty(STDERR_FILENO) == 1)
        let started = ContinuousClock.now
        let result: Result<TransferReport, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            defer { group.cancelAll() }
            do {
                let report = try await sender.send(source) { display.show($0) }
                client.close()
                return .success(report)
            } catch {
                return .failure(error)
            }
        }
        display.finish()
        switch result {
        case .success(let report):
            Terminal.say("sent \(source.name): \(report.size) bytes, sha256 \(report.digest), confirmed by the receiver")
            let rate = TransferDisplay.mebibytesPerSecond(report.size, in: ContinuousClock.now - started)
            Terminal.note(String(format: "%.1f MiB/s; %d bytes on the wire, %d sent again; chunk size %d; %d connection(s)",
                                 rate, report.bytesOnWire, report.retransmittedBytes, report.finalChunkSize,
                                 report.sessions.count))
            if report.sessions.count > 1 {
                let resumes = report.sessions.dropFirst().map { "at \($0.resumedAt) (\($0.retransmittedBytes) sent again)" }
                Terminal.note("resumed " + resumes.joined(separator: ", "))
            }
        case .failure(let error as ReconnectingWebSocket.ConnectionEnded):
            throw Terminal.fail("cannot send to \(url): \(error.ending)")
        case .failure(let error):
            throw Terminal.fail(Terminal.explain(error))
        }
    }
}
