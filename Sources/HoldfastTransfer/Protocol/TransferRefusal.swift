/// Why a receiver refused a transfer: a code the sender can act on, and a reason in words.
public struct TransferRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was refused, as carried on the wire in one byte.
    public enum Code: UInt8, Sendable, Hashable, CaseIterable {
        /// The transfer is larger than the receiver accepts for one transfer.
        case transferTooLarge = 1
        /// The receiver already keeps as many open transfers as it allows.
        case tooManyTransfers = 2
        /// Accepting the transfer would take the store over its total bytes.
        case storeFull = 3
        /// The name is not a plain file name (a path, `..`, empty, control characters, too long).
        case invalidName = 4
        /// The bytes received do not have the digest the sender announced: nothing is delivered.
        case digestMismatch = 5
        /// A chunk or finish for a transfer the receiver does not keep (never offered, expired).
        case unknownTransfer = 6
        /// An offer that contradicts what the receiver keeps under the same id (size or digest).
        case conflictingOffer = 7
        /// The receiver could not store the data (disk full, permissions).
        case storeFailed = 8
        /// A chunk past the transfer's announced size.
        case chunkOutOfRange = 9
        /// A file of that name exists where the transfer would be delivered, and the receiver
        /// does not replace files.
        case nameTaken = 10
        /// Another connection is writing this transfer; retry after a few seconds (it is taken
        /// over once that connection has been quiet, see ``TransferStoreLimits/writerTakeoverAfter``).
        case transferBusy = 11
        /// A code this version does not know.
        case other = 255
    }

    /// What was refused.
    public let code: Code
    /// Why, in words a person can act on.
    public let reason: String

    /// Creates a refusal.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
