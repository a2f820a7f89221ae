import NIOCore

/// The result of one handshake worker.
struct WorkerResult: Sendable {
    var cycles = 0
    var handshakeMicroseconds: [UInt32] = []
    var cycleMicroseconds: [UInt32] = []
    var errors = 0
    var firstError: String?
}

/// The measured window of a handshake run.
struct HandshakePlan: Sendable {
    var measureStart: UInt64
    var measureEnd: UInt64
}

/// A worker repeating handshake cycles one after another on its event loop until the window ends.
final class HandshakeWorker {
    private let loop: any EventLoop
    private let settings: LoadSettings
    private let plan: HandshakePlan
    private let finished: EventLoopPromise<WorkerResult>
    private var result = WorkerResult()

    init(loop: any EventLoop, settings: LoadSettings, plan: HandshakePlan, finished: EventLoopPromise<WorkerResult>) {
        self.loop = loop
        self.settings = settings
        self.plan = plan
        self.finished = finished
    }

    /// Starts the next cycle, or finishes once the window is over; on the worker's event loop.
    func next() {
        let start = nowNanoseconds()
        guard start < plan.measureEnd else {
            finished.succeed(result)
            return
        }
        let done = loop.makePromise(of: UInt64.self)
        let settings = self.settings
        settings.bootstrap(on: loop) { HandshakeCycle(settings: settings, startedAt: start, done: done) }
            .connect(host: settings.target.host, port: settings.target.port)
            .whenFailure { done.fail($0) }
        let bound = NIOLoopBound(self, eventLoop: loop)
        done.futureResult.whenComplete { outcome in
            bound.value.completed(outcome, startedAt: start)
        }
    }

    private func completed(_ outcome: Result<UInt64, any Error>, startedAt start: UInt64) {
        let end = nowNanoseconds()
        switch outcome {
        case .success(let handshake):
            if end >= plan.measureStart && end < plan.measureEnd {
                result.cycles += 1
                result.handshakeMicroseconds.append(UInt32(clamping: handshake / 1000))
                result.cycleMicroseconds.append(UInt32(clamping: (end &- start) / 1000))
            }
        case .failure(let error):
            result.errors += 1
            if result.firstError == nil { result.firstError = "\(error)" }
        }
        next()
    }
}
