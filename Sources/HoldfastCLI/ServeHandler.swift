import ArgumentParser
import Holdfast
import HoldfastTransfer

/// What `holdfast serve` does with each message: send it back, or to everyone else.
enum ServeMode: String, CaseIterable, Sendable {
    /// Every message goes back to its sender.
    case echo
    /// Every message goes to every other connected client: a chat room.
    case broadcast
    /// Transfers are received into a directory (`--files-dir`), in a task per connection.
    case files
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

    /// The route of every upgrade request; every request is accepted.
    @Sendable static func decide(_ request: UpgradeRequest) -> UpgradeDecision<ServeRoute> {
        .accept(request.path == StatusBoard.path ? .statusPage : .client)
    }
}

/// A connection of `holdfast serve` served on its event loop, with its route.
typealias ServeConnection = EventLoopConnection<ServeRoute>

/// The event-loop handler of `holdfast serve`: connections to ``StatusBoard/path`` are status
/// pages, fed by the board; every other connection echoes or joins the chat room.
struct ServeHandler: WebSocketEventLoopHandler {
    let mode: ServeMode
    let room: BroadcastRoom
    let board: StatusBoard

    func connectionOpened(_ connection: ServeConnection) {
        if connection.context == .statusPage {
            board.viewerOpened(connection)
        } else if mode == .broadcast {
            room.join(connection)
        }
    }

    func received(_ message: WebSocketMessage, on connection: ServeConnection) {
        if connection.context == .statusPage {
            board.viewerReceived(message)
            return
        }
        switch mode {
        case .echo:
            // A connection that is closing takes nothing more; the peer's close is under way.
            try? connection.send(message)
        case .broadcast:
            room.broadcast(message, from: connection)
        case .files:
            // Files mode serves connections with a TransferReceiver, never through this handler.
            connection.close(code: .internalError, reason: "files mode is not served on the event loop")
        }
    }

    func connectionClosed(_ connection: ServeConnection, outcome: CloseOutcome) {
        if connection.context == .statusPage {
            board.viewerClosed(connection, outcome: outcome)
        } else if mode == .broadcast {
            room.leave(connection)
        }
    }
}

/// The pages `holdfast serve` answers to plain HTTP GETs: the status page at `/` with its script
/// and the stylesheet, the close-code pages under `/codes`, each with ``HTML/securityHeaders``.
/// Anything else gets the library's 426 Upgrade Required.
enum ServePages {
    static func response(to request: UpgradeRequest, board: StatusBoard) -> PlainHTTPResponse? {
        guard request.head.method == .GET else { return nil }
        let page: PlainHTTPResponse?
        switch request.path {
        case "/":
            page = PlainHTTPResponse(contentType: "text/html", body: StatusPage.html(board.snapshot(), limits: board.limits))
        case StatusPage.scriptPath:
            page = PlainHTTPResponse(contentType: "text/javascript", body: StatusPage.script)
        case HTML.stylesheetPath:
            page = PlainHTTPResponse(contentType: "text/css", body: HTML.stylesheet)
        default:
            page = CodePageHTML.response(path: request.path, query: request.query)
        }
        guard var page else { return nil }
        for (name, value) in HTML.securityHeaders { page.headers.add(name: name, value: value) }
        return page
    }
}
