import Foundation
import NIOConcurrencyHelpers

extension Pipe {
    /// The lines a child process writes to this pipe, as they come, until it closes its end. The
    /// pipe is drained all along (a full pipe would block the writer). With `tail`, the last
    /// 4,000 characters written are also kept there, for failure messages.
    func lines(keepingTailIn tail: NIOLockedValueBox<String>? = nil) -> AsyncStream<String> {
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let pending = NIOLockedValueBox("")
        fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let text = String(decoding: data, as: UTF8.self)
            tail?.withLockedValue { $0 = String(($0 + text).suffix(4000)) }
            let complete = pending.withLockedValue { pending -> [String] in
                pending += text
                var lines = pending.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                pending = lines.removeLast()
                return lines
            }
            for line in complete { continuation.yield(line) }
        }
        return lines
    }
}
