import Holdfast
import HoldfastChannels
import NIOConcurrencyHelpers
import NIOCore

/// The live status of `holdfast serve`: the server's counters, and the status pages that watch
/// them over a WebSocket at ``path``, each sent a ``StatusSnapshot`` every second.
///
/// The viewers' own connections, pushes and closes are counted here so that the page can leave
/// them out: what it shows is the traffic of the echo or chat clients.
final class StatusBoard: Sendable {
    /// The path the status page's WebSocket connects to.
    static let path = "/_status"

    /// The limits and settings in force, as the page lists them in each language.
    let limits: StatusPage.Settings
    private let server = NIOLockedValueBox<WebSocketServer?>(nil)
    /// The channels hub of `--mode channels` and where its history lives, for people (the
    /// snapshots' JSON says it in English).
    private let channels: (hub: ChannelHub, store: Translated<String>)?
    private let viewers = NIOLockedValueBox(Viewers())
    private let started = NIODeadline.now()
    /// The figures last sampled for the rates, when, and the rates then computed. Every snapshot
    /// samples, so that a page opened now shows a rate at once (the average since the previous
    /// snapshot anyone took, or since the start).
    private let lastSample: NIOLockedValueBox<Sample>

    private struct Sample {
        var snapshot: StatusSnapshot
        var time: NIODeadline
        var rates: StatusSnapshot.Rates?
    }

    /// The viewers' share of the server's counters, and each viewer's push task.
    private struct Viewers {
        var counted = WebSocketServerStatistics()
        var pushes: [ObjectIdentifier: RepeatedTask] = [:]
    }

    init(limits: StatusPage.Settings, channels: (hub: ChannelHub, store: Translated<String>)? = nil) {
        self.limits = limits
        self.channels = channels
        let empty = WebSocketServerStatistics()
        lastSample = NIOLockedValueBox(Sample(
            snapshot: StatusSnapshot(statistics: empty, viewers: empty, rates: nil, uptimeSeconds: 0),
            time: started, rates: nil))
    }

    /// Connects the board to the server whose counters it shows (created after the board, since
    /// the server's handler and pages use it).
    func attach(_ server: WebSocketServer) {
        self.server.withLockedValue { $0 = server }
    }

    /// The figures now, with the rates since the last sample at least half a second old.
    func snapshot() -> StatusSnapshot {
        let now = NIODeadline.now()
        let statistics = server.withLockedValue { $0 }?.statistics ?? WebSocketServerStatistics()
        let own = viewers.withLockedValue { $0.counted }
        let uptime = Int((now - started).nanoseconds / 1_000_000_000)
        let hub = channels.map { (statistics: $0.hub.statistics, store: $0.store[.english]) }
        let figures = StatusSnapshot(statistics: statistics, viewers: own, channels: hub, rates: nil, uptimeSeconds: uptime)
        let rates = lastSample.withLockedValue { sample in
            let elapsed = Double((now - sample.time).nanoseconds) / 1e9
            // Two snapshots close together (the page, then its first push) share one rate.
            guard elapsed >= 0.5 else { return sample.rates }
            let rates = figures.rates(since: sample.snapshot, elapsed: elapsed)
            sample = Sample(snapshot: figures, time: now, rates: rates)
            return rates
        }
        return StatusSnapshot(statistics: statistics, viewers: own, channels: hub, rates: rates, uptimeSeconds: uptime)
    }

    // MARK: Viewers on the event loop

    /// A status page connected: push it a snapshot now and every second until it closes.
    func viewerOpened(_ connection: ServeConnection) {
        let bound = NIOLoopBound(connection, eventLoop: connection.eventLoop)
        let push = connection.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [self] _ in
            let message = WebSocketMessage.text(self.snapshot().json)
            // A viewer that is closing takes nothing more; its close cancels this task.
            guard (try? bound.value.send(message)) != nil else { return }
            self.viewerSent(message)
        }
        viewers.withLockedValue { viewers in
            viewers.counted.openConnections += 1
            viewers.counted.totalConnections += 1
            viewers.pushes[connection.id] = push
        }
    }

    /// A status page sent something; it is not meant to, and it is ignored, but counted as theirs.
    func viewerReceived(_ message: WebSocketMessage) {
        viewers.withLockedValue { viewers in
            viewers.counted.messagesReceived += 1
            viewers.counted.bytesReceived += message.data.readableBytes
        }
    }

    /// A status page went away.
    func viewerClosed(_ connection: ServeConnection, outcome: CloseOutcome) {
        let push = viewers.withLockedValue { viewers in
            viewers.counted.openConnections -= 1
            viewers.counted.closes[outcome.code, default: 0] += 1
            if outcome.isDeparture { viewers.counted.departures += 1 }
            return viewers.pushes.removeValue(forKey: connection.id)
        }
        push?.cancel()
    }

    private func viewerSent(_ message: WebSocketMessage) {
        viewers.withLockedValue { viewers in
            viewers.counted.messagesSent += 1
            viewers.counted.bytesSent += message.data.readableBytes
        }
    }

    // MARK: Viewers in a task (the --stream server)

    /// Serves a status page from a connection's task: a snapshot every second until it closes.
    func serveViewer(_ webSocket: WebSocket) async {
        viewers.withLockedValue { viewers in
            viewers.counted.openConnections += 1
            viewers.counted.totalConnections += 1
        }
        while !Task.isCancelled {
            let message = WebSocketMessage.text(snapshot().json)
            do {
                try await webSocket.send(message)
                viewerSent(message)
                try await Task.sleep(for: .seconds(1))
            } catch {
                break
            }
        }
        let outcome = await webSocket.close()
        viewers.withLockedValue { viewers in
            viewers.counted.openConnections -= 1
            viewers.counted.closes[outcome.code, default: 0] += 1
            if outcome.isDeparture { viewers.counted.departures += 1 }
        }
    }
}
