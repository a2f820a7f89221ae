import NIOConcurrencyHelpers
import NIOCore

/// The listening address, for callers that wait for it before ``WebSocketServer/run()`` binds.
final class ListeningState: Sendable {
    private enum State {
        case waiting([CheckedContinuation<SocketAddress, any Error>])
        case listening(SocketAddress)
        case failed(any Error)
    }

    private let state = NIOLockedValueBox(State.waiting([]))

    func wait() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<SocketAddress, any Error>? = state.withLockedValue { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                case .listening(let address):
                    return .success(address)
                case .failed(let error):
                    return .failure(error)
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    func succeed(_ address: SocketAddress) { finish(.listening(address), .success(address)) }

    func fail(_ error: any Error) { finish(.failed(error), .failure(error)) }

    private func finish(_ final: State, _ result: Result<SocketAddress, any Error>) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<SocketAddress, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = final
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}
