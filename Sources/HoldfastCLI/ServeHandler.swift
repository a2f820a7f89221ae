import ArgumentParser
import Holdfast
import HoldfastBrowser
import HoldfastChannels
import HoldfastTransfer

/// What `holdfast serve` does with each message: send it back, or to everyone else.
enum ServeMode: String, CaseIterable, Sendable {
    /// Every message goes back to its sender.
    case echo
    /// Every message goes to every other connected client: a chat room.
    case broadcast
    /// Transfers are received into a directory (`--files-dir`), in a task per connection.
    case files
    /// Channels: clients that speak the channels subprotocol publish and subscribe with offsets
    /// and resume after reconnects; plain clients join the chat room.
    case channels
}

/// Which of the library's two APIs `holdfast serve` echoes through.
enum ServeAPI: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// A ``WebSocketEventLoopHandler``: callbacks on each connection's event loop.
    case eventLoop = "event-loop"
    /// A task per connection, reading `webSocket.messages` and sending with `await`.
    case tasks
}

/// What a `holdfast serve` connection is for, decided once at its upgrade from its path: the
/// handlers then route on it without looking at the request again.
enum ServeRoute: Sendable, Equatable {
    /// A status page's live feed (``StatusBoard/path``).
    case statusPage
    /// A client of the serving mode: echo, chat room or transfers.
    case client
    /// A client of `--mode channels` that agreed on the channels subprotocol.
    case channels

    /// The route of every upgrade request; every request is accepted.
    @Sendable static func decide(_ request: UpgradeRequest) -> UpgradeDecision<ServeRoute> {
        .accept(request.path == StatusBoard.path ? .statusPage : .client)
    }

    /// The route of every upgrade request in `--mode channels`: a client offering the channels
    /// subprotocol gets it; every request is accepted.
    @Sendable static func decideWithChannels(_ request: UpgradeRequest) -> UpgradeDecision<ServeRoute> {
        guard request.path != StatusBoard.path, request.offeredSubprotocols.contains(channelsSubprotocol) else {
            return decide(request)
        }
        return .accept(.channels, subprotocol: channelsSubprotocol)
    }
}

/// A connection of `holdfast serve` served on its event loop, with its route.
typealias ServeConnection = EventLoopConnection<ServeRoute>

/// The event-loop handler of `holdfast serve`: connections to ``StatusBoard/path`` are status
/// pages, fed by the board; channels clients go to the hub; every other connection echoes or
/// joins the chat room.
struct ServeHandler: WebSocketEventLoopHandler {
    let mode: ServeMode
    let room: BroadcastRoom
    let board: StatusBoard
    /// The hub of `--mode channels`.
    var hub: ChannelHub?

    /// Whether plain clients share the chat room: in broadcast mode, and beside channels.
    private var joinsRoom: Bool { mode == .broadcast || mode == .channels }

    func connectionOpened(_ connection: ServeConnection) {
        switch connection.context {
        case .statusPage: board.viewerOpened(connection)
        case .channels: hub?.connectionOpened(connection)
        case .client: if joinsRoom { room.join(connection) }
        }
    }

    func received(_ message: WebSocketMessage, on connection: ServeConnection) {
        switch connection.context {
        case .statusPage:
            board.viewerReceived(message)
            return
        case .channels:
            hub?.received(message, on: connection)
            return
        case .client:
            break
        }
        switch mode {
        case .echo:
            // A connection that is closing takes nothing more; the peer's close is under way.
            try? connection.send(message)
        case .broadcast, .channels:
            room.broadcast(message, from: connection)
        case .files:
            // Files mode serves connections with a TransferReceiver, never through this handler.
            connection.close(code: .internalError, reason: "files mode is not served on the event loop")
        }
    }

    func connectionClosed(_ connection: ServeConnection, outcome: CloseOutcome) {
        switch connection.context {
        case .statusPage: board.viewerClosed(connection, outcome: outcome)
        case .channels: hub?.connectionClosed(connection)
        case .client: if joinsRoom { room.leave(connection) }
        }
    }
}

/// The pages and files `holdfast serve` answers to plain HTTP GETs: the status page at `/` with
/// its script and the stylesheet, its figures as JSON at ``statusJSONPath`` (for monitors and
/// scripts), the browser client `holdfast.js` and the limits a page reads before it sends
/// (``BrowserLimits/path``), the pages of the mode (`/upload`, `/chat`), the close-code pages
/// under `/codes`, each with ``HTML/securityHeaders``. Anything else gets the library's 426
/// Upgrade Required.
struct ServePages: Sendable {
    /// Where the status page's figures are served as one JSON object.
    static let statusJSONPath = "/status.json"

    let board: StatusBoard
    let mode: ServeMode
    /// `holdfast.js` with the reconnect policy of the Swift client embedded.
    let script: BrowserClientScript
    let limits: BrowserLimits
    /// The origins of --allowed-origin; `nil`: any.
    let allowedOrigins: [String]?

    func response(to request: UpgradeRequest) -> PlainHTTPResponse? {
        guard request.head.method == .GET else { return nil }
        let language = CodePageHTML.language(query: request.query)
        let page: PlainHTTPResponse?
        switch request.path {
        case "/":
            page = PlainHTTPResponse(contentType: "text/html",
                                     body: StatusPage.html(board.snapshot(), limits: board.limits, language: language))
        case Self.statusJSONPath:
            page = PlainHTTPResponse(contentType: "application/json", body: board.snapshot().json)
        case StatusPage.scriptPath:
            page = PlainHTTPResponse(contentType: "text/javascript", body: StatusPage.script)
        case HTML.stylesheetPath:
            page = PlainHTTPResponse(contentType: "text/css", body: HTML.stylesheet)
        case BrowserClientScript.path:
            page = script.response(query: request.query, ifNoneMatch: request.headers.first(name: "If-None-Match"))
        case BrowserLimits.path:
            page = limits.response(to: request.head, allowedOrigins: allowedOrigins)
        case "/favicon.ico":
            // Browsers ask for it on every page: "no icon" rather than a 426 in their console.
            page = PlainHTTPResponse(status: .noContent)
        default:
            page = BrowserPages.response(path: request.path, query: request.query, mode: mode,
                                         clientModulePath: script.versionedPath)
                ?? CodePageHTML.response(path: request.path, query: request.query)
        }
        guard var page else { return nil }
        for (name, value) in HTML.securityHeaders { page.headers.add(name: name, value: value) }
        return page
    }
}
