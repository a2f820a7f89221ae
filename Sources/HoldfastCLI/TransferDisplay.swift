import Foundation
import Holdfast
import HoldfastTransfer
import NIOConcurrencyHelpers

/// The progress of `holdfast send` on stderr: a bar redrawn in place on a terminal (at most ten
/// times a second), else a plain line at every 10%; connection changes as lines of their own.
final class TransferDisplay: Sendable {
    private struct State {
        var lastDrawn: ContinuousClock.Instant?
        var lastTenth = -1
        var barShown = false
        var drewComplete = false
    }

    private let size: Int
    private let isTerminal: Bool
    private let started = ContinuousClock.now
    private let state = NIOLockedValueBox(State())

    init(size: Int, isTerminal: Bool) {
        self.size = size
        self.isTerminal = isTerminal
    }

    func show(_ event: TransferEvent) {
        switch event {
        case .progress(let progress):
            showProgress(progress)
        case .resumed(let offset):
            line(offset == 0 ? "starting at byte 0 of \(size)" : "resuming at byte \(offset) of \(size)")
        case .chunkSizeLowered(let size, let reason):
            line("the receiver refused a chunk (\(reason)); chunk size lowered to \(size) bytes")
        case .waitingForOtherWriter(let attempt):
            if attempt == 1 { line("the receiver still holds an earlier connection's transfer; offering again shortly") }
        case .connection(.connected), .connection(.connecting(0)):
            break
        case .connection(.disconnected(.closed(let outcome))):
            line("disconnected: \(outcome.explanation())")
        case .connection(let other):
            line("\(other)")
        }
    }

    /// Ends the bar's line, so what follows starts on a line of its own.
    func finish() {
        let shown = state.withLockedValue { state in
            defer { state.barShown = false }
            return state.barShown
        }
        if shown { write("\n") }
    }

    private func showProgress(_ progress: TransferProgress) {
        let now = ContinuousClock.now
        let percent = size == 0 ? 100 : Int(Int64(progress.acknowledged) * 100 / Int64(size))
        if isTerminal {
            let complete = progress.acknowledged >= size
            let due = state.withLockedValue { state -> Bool in
                // At most ten redraws a second, except the one that shows the end, drawn once.
                if complete ? state.drewComplete : state.lastDrawn.map({ now - $0 < .milliseconds(100) }) ?? false {
                    return false
                }
                state.lastDrawn = now
                state.drewComplete = complete
                state.barShown = true
                return true
            }
            guard due else { return }
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r[\(bar)] \(String(format: "%3d", percent))% \(mebibytes(progress.acknowledged))/\(mebibytes(size)) MiB "
                  + "\(rate(progress.acknowledged, at: now)) MiB/s   ")
        } else {
            let tenth = percent / 10
            let due = state.withLockedValue { state -> Bool in
                guard tenth > state.lastTenth else { return false }
                state.lastTenth = tenth
                return true
            }
            if due { write("sent \(tenth * 10)% (\(progress.acknowledged) of \(size) bytes)\n") }
        }
    }

    private func line(_ text: String) {
        let clear = state.withLockedValue { state in
            defer { state.barShown = false }
            return state.barShown
        }
        write((clear ? "\n" : "") + text + "\n")
    }

    private func mebibytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }

    private func rate(_ bytes: Int, at now: ContinuousClock.Instant) -> String {
        String(format: "%.1f", Self.mebibytesPerSecond(bytes, in: now - started))
    }

    /// `bytes` over `duration`, in MiB/s.
    static func mebibytesPerSecond(_ bytes: Int, in duration: Duration) -> Double {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds > 0 ? Double(bytes) / seconds / 1_048_576 : 0
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
