import ArgumentParser
import Foundation
import Holdfast
import HoldfastBrowser
import HoldfastChannels
import HoldfastPostgres
import HoldfastTransfer
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a WebSocket echo, chat-room, file-receiving or channels server, with a live status page.",
        discussion: """
            In echo mode (the default) every text or binary message is sent back with its type; in \
            broadcast mode it goes to every other connected client, like a chat room; in files mode \
            it receives transfers ('holdfast send') into --files-dir: chunked, resumed after \
            reconnects and restarts (partial transfers are kept in DIR/.holdfast-partial), and \
            written under the sender's name only once their SHA-256 matched: never over an \
            existing file unless --overwrite, and only plain names (a path, a leading dot, \
            control, bidirectional or invisible characters are refused). One connection may \
            hold --files-max-open-per-connection partial transfers; one that sends nothing for \
            2 minutes gives up its place to a new sender; --files-max-total-bytes bounds the \
            partial transfers and the received files together. With --store postgres://... several \
            nodes behind a load balancer share the partial transfers in PostgreSQL: a sender cut \
            off from one node (its restart's 1001) resumes on another from the last acknowledged \
            byte, and the file is written to the --files-dir of the node where the transfer \
            completes. In channels mode clients that offer \
            the subprotocol holdfast.channels.v1 ('holdfast subscribe', 'holdfast publish', \
            ChannelClient) publish to named channels, where each message gets an offset, and \
            subscribe; a client that reconnects resumes after the last offset it received and gets \
            what it missed from the history (--history-size messages per channel, for \
            --history-age seconds), or is told it could not be filled. The history is kept in \
            memory (lost on restart: clients learn it from the new epoch) or, with --history-dir, \
            in an SQLite database there that survives restarts and crashes, or, with --store, in \
            PostgreSQL, shared by every node started with the same --store: behind a load \
            balancer, a subscriber that a restart sends to another node resumes there without \
            loss (see docs/cluster.md). Plain clients share a chat room. Prints \
            `listening on ws://HOST:PORT` once connections are accepted. On SIGTERM or SIGINT \
            (Ctrl-C) it shuts down gracefully: it stops accepting, sends 1001 Going Away to every \
            client, waits up to --drain-timeout for their close handshakes, reports how many \
            closed cleanly, and exits 0. The limits are \
            announced to clients in the upgrade response (Holdfast-Max-Message-Size, \
            Holdfast-Max-Frame-Size); a message or frame over them is refused with close 1009. \
            permessage-deflate is accepted when a client offers it (browsers do), with memory-bounded \
            settings; the message limit applies to the inflated size. --no-compression declines it.

            A browser pointed at the server gets a live status page at / (connections, messages \
            per second, bytes, closes by code, the limits in force), and the close-code pages of \
            'holdfast explain' and 'holdfast compare' at /codes/1009 and /codes/1001-vs-1009 \
            (add ?lang=es for Spanish). In files mode /upload is a page that uploads a file \
            through the transfer protocol (resumed across restarts and reloads); in channels mode \
            /chat is a room whose history survives reconnects. Every mode serves the browser \
            client /holdfast.js (an ES module: reconnects with the policy of the Swift client, \
            closes with 4001 when its page is left, refuses messages over the limit before \
            sending, channels, uploads; cached for a year under /holdfast.js?v=VERSION) and the \
            limits as JSON at /limits.json, which a page cannot read from the upgrade response.

            With --tls-cert and --tls-key (PEM files, both or neither) it serves wss:// and the \
            pages over https://, and prints `listening on wss://HOST:PORT`.

            Protections: a connection that has not sent its whole upgrade request within \
            --handshake-timeout gets 408 (slow clients cannot hold connections open); request \
            headers over --max-header-size get 431; over --max-connections, 503 with Retry-After; \
            with --idle-timeout, a connection whose client sends nothing (no message, ping or \
            pong) for that long is closed with 1001; with --allowed-origin, a browser page from \
            any other origin gets 403.

            Examples:
              holdfast serve                                   # ws://127.0.0.1:8080
              holdfast serve --port 0                          # any free port
              holdfast serve --api tasks                       # echo through the async API
              holdfast serve --mode broadcast                  # a chat room
              holdfast serve --mode files --files-dir inbox    # for 'holdfast send'
              holdfast serve --mode files --files-dir inbox \\
                --store postgres://holdfast@db/holdfast        # a node of several
              holdfast serve --mode channels                   # history in memory
              holdfast serve --mode channels --history-dir state --history-size 100000
              holdfast serve --mode channels --store postgres://holdfast@db/holdfast
              holdfast serve --host :: --port 9001 --max-message-size 16777216
              holdfast serve --stream --max-frame-size 1048576 \\
                --max-message-size 1073741824
              holdfast serve --port 8443 --tls-cert server.pem --tls-key server-key.pem
              holdfast serve --max-connections 10000 --idle-timeout 300 \\
                --allowed-origin https://example.com
              holdfast serve --ping-interval 30                # find dead clients
            """
    )

    @Option(help: "Address to listen on (0.0.0.0 or :: for every interface).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks a free one.")
    var port = 8080

    @Option(help: ArgumentHelp("echo: each message back to its sender; broadcast: to every other client; files: receive transfers; channels: publish and subscribe with offsets.",
                               valueName: "echo|broadcast|files|channels"))
    var mode = ServeMode.echo

    @Option(help: ArgumentHelp(
        "How echo connections are served: event-loop (callbacks on the connection's event loop, the fastest) or tasks (a task per connection reading its messages, the async API).",
        valueName: "event-loop|tasks"))
    var api = ServeAPI.eventLoop

    @Option(name: .customLong("files-dir"), help: "Where --mode files writes received files.")
    var filesDirectory: String?

    @Option(name: .customLong("files-max-total-bytes"),
            help: "Bytes the files directory may hold: partial transfers and received files together (--mode files).")
    var filesMaxTotalBytes = 16 << 30

    @Option(name: .customLong("files-max-open"), help: "Partial transfers kept at once (--mode files).")
    var filesMaxOpen = 16

    @Option(name: .customLong("files-max-open-per-connection"),
            help: "Partial transfers one connection may have open at once (--mode files).")
    var filesMaxOpenPerConnection = 4

    @Flag(help: "Let a received file replace an existing file of the same name (--mode files; default: refuse the transfer).")
    var overwrite = false

    @Option(name: .customLong("files-idle-timeout"), help: "Seconds an idle partial transfer is kept (--mode files).")
    var filesIdleTimeout: Double = 3600

    @Option(name: .customLong("store"), help: ArgumentHelp(
        "PostgreSQL that several nodes share: --mode files keeps partial transfers there (a sender resumes on any node), "
        + "--mode channels its history.", valueName: "postgres://USER@HOST:PORT/DB"))
    var store: String?

    @Option(name: .customLong("history-dir"),
            help: "Keep channel history in an SQLite database in this folder, so a restart loses nothing (--mode channels; default: in memory).")
    var historyDirectory: String?

    @Option(name: .customLong("history-size"), help: "Messages kept per channel for resuming subscribers (--mode channels).")
    var historySize = ChannelHistoryLimits().maxMessages

    @Option(name: .customLong("history-age"), help: "Seconds a channel message is kept for resuming subscribers (--mode channels).")
    var historyAge: Double = 3600

    @Option(name: .customLong("history-bytes"),
            help: "Payload bytes the in-memory history keeps over all channels; the oldest go first (--mode channels without --history-dir).")
    var historyBytes = ChannelHistoryLimits().maxBytes

    @Option(name: .customLong("max-replay"), help: "Most messages one resuming subscription is sent from history (--mode channels).")
    var maxReplay = ChannelHistoryLimits().maxReplay

    @Option(name: .customLong("max-subscriptions"), help: "Channels one connection may subscribe to at once (--mode channels).")
    var maxSubscriptions = ChannelHubConfiguration().maxSubscriptionsPerConnection

    @Option(name: .customLong("max-message-size"), help: "Largest message accepted, in bytes (bigger: close 1009).")
    var maxMessageSize = WebSocketConfiguration.defaultMaxMessageSize

    @Option(name: .customLong("max-frame-size"), help: "Largest frame accepted, in bytes (default: the message limit).")
    var maxFrameSize: Int?

    @Option(name: .customLong("fragment-size"), help: "Send messages longer than this as fragments of this size.")
    var fragmentSize: Int?

    @Flag(help: "Echo each fragment as it arrives instead of whole messages: memory stays within one frame.")
    var stream = false

    @Flag(name: .customLong("no-compression"),
          help: "Decline permessage-deflate (accepted by default): every message goes uncompressed.")
    var noCompression = false

    @Option(name: .customLong("max-backlog"),
            help: "Bytes that may wait for a client that reads slowly; past it the client is closed with 1013 (0: no limit).")
    var maxBacklog = WebSocketConfiguration.defaultMaxBacklog

    @Option(name: .customLong("close-timeout"), help: "Seconds a close handshake waits for the client's answer.")
    var closeTimeout: Double = 10

    @Option(name: .customLong("drain-timeout"), help: "Seconds a shutdown waits for clients to answer 1001.")
    var drainTimeout: Double = 10

    @Option(name: .customLong("shutdown-spread"),
            help: "Spread the 1001 closes of a shutdown over this many seconds, with a retry hint, so clients do not reconnect all at once.")
    var shutdownSpread: Double?

    @Option(name: .customLong("handshake-timeout"),
            help: "Seconds a new connection has to send its whole upgrade request (else 408; 0: no limit).")
    var handshakeTimeout: Double = 10

    @Option(name: .customLong("max-header-size"), help: "Largest upgrade request headers, in bytes (bigger: 431).")
    var maxHeaderSize = 32 * 1024

    @Option(name: .customLong("max-connections"), help: "Most WebSocket connections at once (more: 503).")
    var maxConnections: Int?

    @Option(name: .customLong("idle-timeout"), help: "Close connections that send nothing for this many seconds (1001).")
    var idleTimeout: Double?

    @Option(name: .customLong("ping-interval"),
            help: "Ping each client this many seconds after its last pong; no pong within 10 s: closed as dead.")
    var pingInterval: Double?

    @Option(name: .customLong("allowed-origin"), help: ArgumentHelp(
        "A browser origin allowed to connect, e.g. https://example.com (repeatable; others: 403). Default: any.",
        valueName: "origin"))
    var allowedOrigins: [String] = []

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(
        "Serve wss:// with this certificate chain (PEM; needs --tls-key).", valueName: "pem"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp(
        "The private key of --tls-cert (PEM).", valueName: "pem"))
    var tlsKey: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxMessageSize > 0 else { throw ValidationError("--max-message-size must be positive") }
        if let maxFrameSize, maxFrameSize <= 0 { throw ValidationError("--max-frame-size must be positive") }
        if let fragmentSize, fragmentSize <= 0 { throw ValidationError("--fragment-size must be positive") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
        if stream, mode != .echo { throw Terminal.fail("--stream echoes fragments as they arrive; it cannot be used with --mode \(mode)") }
        if api == .tasks, mode != .echo { throw Terminal.fail("--api tasks is for --mode echo (broadcast runs on the event loop, files in tasks)") }
        if mode == .files, filesDirectory == nil { throw Terminal.fail("--mode files needs --files-dir DIR, where received files go") }
        if mode != .files, filesDirectory != nil { throw Terminal.fail("--files-dir is for --mode files") }
        guard filesMaxTotalBytes > 0 else { throw ValidationError("--files-max-total-bytes must be positive") }
        guard filesMaxOpen > 0 else { throw ValidationError("--files-max-open must be positive") }
        guard filesMaxOpenPerConnection > 0 else { throw ValidationError("--files-max-open-per-connection must be positive") }
        if overwrite, mode != .files { throw Terminal.fail("--overwrite is for --mode files") }
        guard filesIdleTimeout > 0 else { throw ValidationError("--files-idle-timeout must be positive") }
        if mode != .channels, historyDirectory != nil { throw Terminal.fail("--history-dir is for --mode channels") }
        if let store {
            guard mode == .files || mode == .channels else { throw Terminal.fail("--store is for --mode files and --mode channels") }
            guard historyDirectory == nil else { throw Terminal.fail("--store and --history-dir name two places for the history; choose one") }
            do { _ = try PostgresLocation(url: store) } catch { throw Terminal.fail("--store: \(error)") }
        }
        guard historySize > 0 else { throw ValidationError("--history-size must be positive") }
        guard historyAge > 0 else { throw ValidationError("--history-age must be positive") }
        guard maxReplay > 0 else { throw ValidationError("--max-replay must be positive") }
        guard historyBytes > 0 else { throw ValidationError("--history-bytes must be positive") }
        guard maxSubscriptions > 0 else { throw ValidationError("--max-subscriptions must be positive") }
        guard closeTimeout >= 0 else { throw ValidationError("--close-timeout must not be negative") }
        guard maxBacklog >= 0 else { throw ValidationError("--max-backlog must not be negative") }
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must not be negative") }
        if let shutdownSpread, shutdownSpread < 0 { throw ValidationError("--shutdown-spread must not be negative") }
        guard handshakeTimeout >= 0 else { throw ValidationError("--handshake-timeout must not be negative") }
        guard maxHeaderSize > 0 else { throw ValidationError("--max-header-size must be positive") }
        if let maxConnections, maxConnections <= 0 { throw ValidationError("--max-connections must be positive") }
        if let idleTimeout, idleTimeout <= 0 { throw ValidationError("--idle-timeout must be positive") }
        if let pingInterval, pingInterval <= 0 { throw ValidationError("--ping-interval must be positive") }
    }

    /// The TLS settings from --tls-cert and --tls-key, or `nil` for plain ws://; a lone flag or
    /// a file that cannot be loaded is the tool's one-line error.
    private func loadTLS() throws -> WebSocketServerTLS? {
        switch (tlsCertificate, tlsKey) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            do {
                return try WebSocketServerTLS(certificateChainFile: certificate, privateKeyFile: key)
            } catch {
                throw Terminal.fail("TLS: \(error)")
            }
        case (nil, _):
            throw Terminal.fail("--tls-key needs --tls-cert (the certificate chain it belongs to)")
        case (_, nil):
            throw Terminal.fail("--tls-cert needs --tls-key (the certificate's private key)")
        }
    }

    func run() async throws {
        let tls = try loadTLS()
        var logger = Logger(label: "holdfast.serve")
        logger.logLevel = logLevel
        let webSocket = WebSocketConfiguration(
            maxMessageSize: maxMessageSize, maxFrameSize: maxFrameSize, fragmentSize: fragmentSize,
            receiveMode: stream ? .fragments(maxMessageSize: maxMessageSize) : .messages,
            closeTimeout: .nanoseconds(Int64(closeTimeout * 1e9)),
            compression: noCompression ? nil : PerMessageDeflateConfiguration(),
            pingInterval: pingInterval.map { .nanoseconds(Int64($0 * 1e9)) },
            maxBacklog: maxBacklog > 0 ? maxBacklog : nil)
        let hub = mode == .channels ? try await channelHub(logger: logger) : nil
        let board = StatusBoard(limits: limits(webSocket), channels: hub.map { ($0, historyDescription) })
        let pages = ServePages(
            board: board, mode: mode, script: try browserClient(),
            limits: BrowserLimits(webSocket, mode: mode.rawValue, subprotocols: hub == nil ? [] : [channelsSubprotocol]),
            allowedOrigins: allowedOrigins.isEmpty ? nil : allowedOrigins)
        let configuration = WebSocketServerConfiguration(
            host: host, port: port, webSocket: webSocket,
            plainHTTP: { pages.response(to: $0) }, threads: threads,
            drainTimeout: .nanoseconds(Int64(drainTimeout * 1e9)),
            shutdownSpread: shutdownSpread.map { .nanoseconds(Int64($0 * 1e9)) }, tls: tls,
            protections: protections)
        let server: WebSocketServer
        var receiver: TransferReceiver?
        var sharedStorage: (any Service)?
        if mode == .files, let filesDirectory {
            let (files, storage) = try await Self.receiver(into: filesDirectory, limits: TransferStoreLimits(
                maxTotalBytes: filesMaxTotalBytes, maxOpenTransfers: filesMaxOpen,
                maxOpenTransfersPerConnection: filesMaxOpenPerConnection,
                idleTimeout: .nanoseconds(Int64(filesIdleTimeout * 1e9))), overwrite: overwrite, store: store, logger: logger)
            receiver = files
            sharedStorage = storage
            server = WebSocketServer(configuration: configuration, logger: logger,
                                     shouldUpgrade: ServeRoute.decide) { webSocket, route in
                if route == .statusPage { return await board.serveViewer(webSocket) }
                await files.serve(webSocket)
            }
        } else if stream {
            // Fragments go back as they arrive, through the async API: memory stays within a frame.
            server = WebSocketServer(configuration: configuration, logger: logger,
                                     shouldUpgrade: ServeRoute.decide) { webSocket, route in
                if route == .statusPage { return await board.serveViewer(webSocket) }
                for await fragment in webSocket.fragments {
                    try await webSocket.sendFragment(fragment.data, of: fragment.kind, isFinal: fragment.isFinal)
                }
            }
        } else if api == .tasks {
            // The same echo through the async API: a task per connection.
            server = WebSocketServer(configuration: configuration, logger: logger,
                                     shouldUpgrade: ServeRoute.decide) { webSocket, route in
                if route == .statusPage { return await board.serveViewer(webSocket) }
                for await message in webSocket.messages {
                    try await webSocket.send(message)
                }
            }
        } else {
            let handler = ServeHandler(mode: mode, room: BroadcastRoom(), board: board, hub: hub)
            server = WebSocketServer(configuration: configuration, logger: logger,
                                     shouldUpgrade: hub == nil ? ServeRoute.decide : ServeRoute.decideWithChannels,
                                     eventLoopHandler: handler)
        }
        board.attach(server)
        // Shut down in reverse order: the hub first stores and delivers what waits, then the
        // server sends its 1001s behind those deliveries.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
        if let hub { services.append(.init(service: hub)) }
        // The shared storage stops last, once the server's connections have drained.
        if let sharedStorage { services.insert(.init(service: sharedStorage), at: 0) }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serve(serviceGroup, server: server, tls: tls, receiver: receiver)
        } catch {
            try? await hub?.store.close()
            throw error
        }
        try? await hub?.store.close()
    }

    /// `holdfast.js` as this server serves it, or the tool's one-line error when the build lacks it.
    private func browserClient() throws -> BrowserClientScript {
        do {
            return try BrowserClientScript()
        } catch {
            throw Terminal.fail("cannot serve holdfast.js: \(error)")
        }
    }

    /// Runs the services until they stop: announces the address, the received files (in files
    /// mode) and the shutdown report.
    private func serve(_ serviceGroup: ServiceGroup, server: WebSocketServer, tls: WebSocketServerTLS?,
                       receiver: TransferReceiver?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            let address = try await server.listeningAddress
            let shownHost = host.contains(":") ? "[\(host)]" : host
            Terminal.say("listening on \(tls == nil ? "ws" : "wss")://\(shownHost):\(address.port ?? port)")
            if let receiver {
                group.addTask { await Self.announceReceived(receiver, until: server) }
            }
            group.addTask {
                let report = await server.stopped()
                Terminal.note("shut down: \(report)")
            }
            try await group.waitForAll()
        }
    }

    /// The hub of `--mode channels` over its store: PostgreSQL at --store, SQLite in
    /// --history-dir, or memory.
    private func channelHub(logger: Logger) async throws -> ChannelHub {
        let limits = ChannelHistoryLimits(maxMessages: historySize, maxAge: .nanoseconds(Int64(historyAge * 1e9)),
                                          maxReplay: maxReplay, maxBytes: historyBytes)
        let store: any ChannelStore
        if let url = self.store {
            do {
                store = try await PostgresChannelStore.open(try PostgresLocation(url: url), limits: limits, logger: logger)
            } catch {
                throw Terminal.fail("cannot use --store: \(error)")
            }
        } else if let historyDirectory {
            do {
                store = try await SQLiteChannelStore.open(directory: URL(fileURLWithPath: historyDirectory), limits: limits,
                                                         logger: logger)
            } catch {
                throw Terminal.fail("cannot use --history-dir \(historyDirectory): \(error)")
            }
        } else {
            store = InMemoryChannelStore(limits: limits)
        }
        return ChannelHub(store: store, configuration: ChannelHubConfiguration(maxSubscriptionsPerConnection: maxSubscriptions),
                          logger: logger)
    }

    /// Where the channel history lives, as the status page says it in each language.
    private var historyDescription: Translated<String> {
        Translated { language in
            let spanish = language == .spanish
            // Sizes and times carry a decimal point in English, a decimal comma in Spanish.
            let decimalMark = { (text: String) in spanish ? text.replacingOccurrences(of: ".", with: ",") : text }
            let kept = spanish ? "\(historySize) mensajes por canal durante \(decimalMark(Self.seconds(historyAge)))"
                : "\(historySize) messages per channel for \(Self.seconds(historyAge))"
            if let url = store, let location = try? PostgresLocation(url: url) {
                return spanish ? "PostgreSQL en \(location) (compartido por sus nodos), " + kept
                    : "PostgreSQL at \(location) (shared by the nodes on it), " + kept
            }
            guard let historyDirectory else {
                let total = decimalMark(Self.size(historyBytes))
                return spanish ? "en memoria (se pierde al reiniciar), " + kept + ", como mucho " + total + " en total"
                    : "in memory (lost on restart), " + kept + ", at most " + total + " in all"
            }
            let folder = Self.lastPathComponent(historyDirectory)
            return spanish ? "SQLite en una carpeta llamada " + folder + " (sobrevive a los reinicios), " + kept
                : "SQLite in a folder named " + folder + " (survives restarts), " + kept
        }
    }

    /// A receiver writing into `directory`, with its partial transfers there or, with `store`,
    /// in PostgreSQL (returned too: the service that runs its connections); or a one-line error
    /// when either cannot be used.
    private static func receiver(into directory: String, limits: TransferStoreLimits, overwrite: Bool, store: String?,
                                 logger: Logger) async throws -> (TransferReceiver, (any Service)?)
    {
        guard let store else {
            do {
                return (TransferReceiver(store: try await .disk(directory: directory, limits: limits, overwrite: overwrite),
                                         logger: logger), nil)
            } catch {
                throw Terminal.fail("cannot use --files-dir \(directory): \(error)")
            }
        }
        let storage: PostgresTransferStorage
        do {
            let location = try PostgresLocation(url: store)
            do {
                storage = try await PostgresTransferStorage.open(location, abandonedAfter: limits.idleTimeout, logger: logger)
            } catch {
                // The location without its password.
                throw Terminal.fail("cannot use --store \(location): \(error)")
            }
        } catch let error as PostgresLocation.InvalidURL {
            throw Terminal.fail("--store: \(error)")
        }
        do {
            let shared = try await TransferStore.shared(storage, directory: directory, limits: limits, overwrite: overwrite)
            return (TransferReceiver(store: shared, logger: logger), storage)
        } catch {
            throw Terminal.fail("cannot use --files-dir \(directory): \(error)")
        }
    }

    /// Prints a line on stdout for each transfer received, until the server has stopped.
    private static func announceReceived(_ receiver: TransferReceiver, until server: WebSocketServer) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await transfer in receiver.transfers {
                    Terminal.say("received \(transfer.name): \(transfer.size) bytes, sha256 \(transfer.digest)")
                }
            }
            group.addTask { _ = await server.stopped() }
            await group.next()
            group.cancelAll()
        }
    }

    /// The protections of --handshake-timeout, --max-header-size, --max-connections,
    /// --idle-timeout and --allowed-origin.
    private var protections: ServerProtections {
        ServerProtections(
            handshakeTimeout: handshakeTimeout > 0 ? .nanoseconds(Int64(handshakeTimeout * 1e9)) : nil,
            maxHeaderSize: maxHeaderSize, maxConnections: maxConnections,
            idleTimeout: idleTimeout.map { .nanoseconds(Int64($0 * 1e9)) },
            allowedOrigins: allowedOrigins.isEmpty ? nil : allowedOrigins)
    }

    /// The limits and settings in force, as the status page lists them in each language.
    private func limits(_ webSocket: WebSocketConfiguration) -> StatusPage.Settings {
        let table = Translated { language -> [(name: String, value: String)] in
            let spanish = language == .spanish
            // Sizes and times carry a decimal point in English, a decimal comma in Spanish.
            let size = { (bytes: Int) in spanish ? Self.size(bytes).replacingOccurrences(of: ".", with: ",") : Self.size(bytes) }
            let seconds = { (value: Double) in
                spanish ? Self.seconds(value).replacingOccurrences(of: ".", with: ",") : Self.seconds(value)
            }
            var limits: [(name: String, value: String)] = [
                (spanish ? "Modo" : "Mode",
                 stream ? (spanish ? "echo, fragmento a fragmento (--stream)" : "echo, fragment by fragment (--stream)")
                    : mode == .echo && api == .tasks
                    ? (spanish ? "echo, una tarea por conexión (--api tasks)" : "echo, a task per connection (--api tasks)")
                    : mode.rawValue),
                (spanish ? "Mensaje más grande" : "Largest message",
                 size(maxMessageSize) + (spanish ? " (más: cierre 1009)" : " (more: close 1009)")),
                (spanish ? "Trama más grande" : "Largest frame",
                 size(webSocket.effectiveMaxFrameSize) + (spanish ? " (más: cierre 1009)" : " (more: close 1009)")),
                (spanish ? "Fragmentos enviados" : "Fragments sent",
                 fragmentSize.map { (spanish ? "como mucho " : "at most ") + size($0) }
                    ?? (spanish ? "ninguno (mensajes enteros)" : "none (whole messages)")),
                (spanish ? "Cola de salida" : "Outbound backlog",
                 maxBacklog > 0
                    ? (spanish ? "como mucho " + size(maxBacklog) + " por cliente (más: cierre 1013)"
                        : "at most " + size(maxBacklog) + " per client (more: close 1013)")
                    : (spanish ? "sin límite" : "no limit")),
                (spanish ? "Espera del cierre" : "Close handshake timeout", seconds(closeTimeout)),
                (spanish ? "Espera al apagar" : "Drain timeout on shutdown", seconds(drainTimeout)),
            ]
            if let shutdownSpread {
                limits.append((spanish ? "Reparto del apagado" : "Shutdown spread", seconds(shutdownSpread)))
            }
            let none = spanish ? "ninguno" : "none"
            limits.append((spanish ? "Espera del handshake" : "Handshake timeout",
                           handshakeTimeout > 0 ? seconds(handshakeTimeout) + (spanish ? " (después, 408)" : " (then 408)") : none))
            limits.append((spanish ? "Cabeceras de petición más grandes" : "Largest request headers",
                           size(maxHeaderSize) + (spanish ? " (más: 431)" : " (more: 431)")))
            limits.append((spanish ? "Conexiones" : "Connections",
                           maxConnections.map { spanish ? "como mucho \($0) (más: 503)" : "at most \($0) (more: 503)" }
                               ?? (spanish ? "sin límite" : "no limit")))
            limits.append((spanish ? "Espera por inactividad" : "Idle timeout",
                           idleTimeout.map { seconds($0) + (spanish ? " sin recibir nada (después, 1001)"
                                                                    : " with nothing received (then 1001)") } ?? none))
            limits.append((spanish ? "Pings de mantenimiento" : "Keepalive pings",
                           pingInterval.map { spanish ? "cada " + seconds($0) + " (sin pong en 10 s: se cierra)"
                               : "every " + seconds($0) + " (no pong in 10 s: closed)" } ?? none))
            if !allowedOrigins.isEmpty {
                limits.append((spanish ? "Orígenes de navegador permitidos" : "Browser origins allowed",
                               allowedOrigins.joined(separator: ", ") + (spanish ? " (los demás: 403)" : " (others: 403)")))
            }
            if let filesDirectory {
                // The folder's name only: the page is public, the server's disk layout is not.
                let folder = Self.lastPathComponent(filesDirectory)
                limits.append((spanish ? "Archivos recibidos en" : "Files received into",
                               (spanish ? "una carpeta llamada " : "a folder named ") + folder))
                limits.append((spanish ? "Transferencias parciales" : "Partial transfers", spanish
                    ? "como mucho \(filesMaxOpen), \(filesMaxOpenPerConnection) por conexión, guardadas "
                        + seconds(filesIdleTimeout) + " sin actividad (2 min sin un byte: abandonadas)"
                    : "at most \(filesMaxOpen), \(filesMaxOpenPerConnection) per connection, kept "
                        + seconds(filesIdleTimeout) + " when idle (2 min without a byte: abandoned)"))
                limits.append((spanish ? "Carpeta de archivos" : "Files directory", spanish
                    ? "como mucho " + size(filesMaxTotalBytes) + " de archivos parciales y recibidos"
                        + (overwrite ? "; un archivo recibido sustituye al de su nombre" : "; nunca se sustituye un archivo existente")
                    : "at most " + size(filesMaxTotalBytes) + " of partial and received files"
                        + (overwrite ? "; a received file replaces one of its name" : "; existing files are never replaced")))
            }
            if mode == .channels {
                limits.append((spanish ? "Historial de canales" : "Channel history", historyDescription[language]))
                limits.append((spanish ? "Reenvío" : "Replay", spanish
                    ? "como mucho \(maxReplay) mensajes por suscripción que se reanuda"
                    : "at most \(maxReplay) messages per resuming subscription"))
                limits.append((spanish ? "Suscripciones" : "Subscriptions",
                               spanish ? "como mucho \(maxSubscriptions) por conexión" : "at most \(maxSubscriptions) per connection"))
            }
            limits.append((spanish ? "Hilos de event loop" : "Event-loop threads",
                           threads.map(String.init) ?? (spanish ? "uno por núcleo" : "one per core")))
            return limits
        }
        return StatusPage.Settings(mode: mode, limits: table, history: mode == .channels ? historyDescription : nil)
    }

    /// The last component of `path`, whatever separators and trailing slashes it has.
    private static func lastPathComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    private static func size(_ bytes: Int) -> String {
        StatusPage.bytes(bytes) + (bytes >= 1024 ? " (\(bytes) bytes)" : "")
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

extension ServeMode: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}
