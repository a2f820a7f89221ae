/// The settings of a ``TransferSender``.
public struct TransferSenderConfiguration: Sendable {
    /// Data bytes per chunk asked for. Default 1 MiB; it is lowered to fit the receiver's
    /// announced message limit, and after a 1009 to the limit the close names (or by half).
    public var chunkSize: Int
    /// Bytes that may be sent and not yet acknowledged. Default 4 MiB: enough to keep a
    /// loopback or LAN link busy while acknowledgements travel back; at most this much (plus
    /// what the receiver got but could not acknowledge) is sent again after a connection loss.
    public var window: Int
    /// How long to wait before offering the transfer again when the receiver answers that
    /// another connection is writing it (``TransferRefusal/Code/transferBusy``: after a silent
    /// network drop the receiver may still hold the old connection). Default 1 s.
    public var busyRetryDelay: Duration
    /// How many such answers in a row are waited out before the transfer fails. Default 60: a
    /// minute, well past the receiver's default takeover time of 10 s.
    public var maxBusyRetries: Int

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(chunkSize: Int = 1 << 20, window: Int = 4 << 20, busyRetryDelay: Duration = .seconds(1),
                maxBusyRetries: Int = 60) {
        self.chunkSize = chunkSize
        self.window = window
        self.busyRetryDelay = busyRetryDelay
        self.maxBusyRetries = maxBusyRetries
    }
}
