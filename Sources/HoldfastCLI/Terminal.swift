import ArgumentParser
import Foundation
import Holdfast
import HoldfastCloseCodes

/// Output of the command-line tool: results on stdout, diagnostics on stderr, each line written
/// at once (unbuffered) so that scripts driving the tool see it immediately.
enum Terminal {
    /// Writes a line to stdout.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a line to stderr.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Reports a failure as one line on stderr and returns the exit code to throw.
    static func fail(_ message: String) -> ExitCode {
        note("holdfast: error: \(message)")
        return ExitCode.failure
    }

    /// An error as one line for people: a closed connection's code explained from the catalog.
    static func explain(_ error: any Error) -> String {
        (error as? WebSocketError)?.explanation() ?? "\(error)"
    }
}
