/// A certificate or key file that could not be loaded: missing, unreadable, or not PEM.
public struct TLSFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file's path, as given.
    public let path: String
    /// What the file should have held: `certificate`, `private key`, or `CA certificates`.
    public let contents: String
    /// What went wrong, from the TLS library.
    public let detail: String

    init(path: String, contents: String, error: any Error) {
        self.path = path
        self.contents = contents
        self.detail = "\(error)"
    }

    public var description: String {
        "cannot load the \(contents) from '\(path)': the file is missing, unreadable or not PEM (\(detail))"
    }
}
