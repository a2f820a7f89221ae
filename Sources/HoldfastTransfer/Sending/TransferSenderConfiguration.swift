/// The settings of a ``TransferSender``.
public struct TransferSenderConfiguration: Sendable {
    /// Data bytes per chunk asked for. Default 1 MiB; it is lowered to fit the receiver's
    /// announced message limit, and after a 1009 to the limit the close names (or by half).
    public var chunkSize: Int
    /// Bytes that may be sent and not yet acknowledged. Default 4 MiB: enough to keep a
    /// loopback or LAN link busy while acknowledgements travel back; at most this much (plus
    /// what the receiver got but could not acknowledge) is sent again after a connection loss.
    public var window: Int

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(chunkSize: Int = 1 << 20, window: Int = 4 << 20) {
        self.chunkSize = chunkSize
        self.window = window
    }
}
