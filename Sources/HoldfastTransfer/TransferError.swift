import HoldfastCore

/// Why a transfer failed.
public struct TransferError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Sendable, Hashable {
        case refused(TransferRefusal)
        case digestMismatch(String)
        case connectionEnded(ReconnectPolicy.Disconnection?)
        case cannotRewind(to: Int, earliest: Int)
        case sourceFailed(String)
        case protocolViolation(String)
        case cannotContinue(String)
    }

    private let kind: Kind

    /// The receiver refused the transfer (its limits, the name, an unknown id); see ``refusal``.
    public static func refused(_ refusal: TransferRefusal) -> TransferError {
        refusal.code == .digestMismatch ? TransferError(kind: .digestMismatch(refusal.reason))
            : TransferError(kind: .refused(refusal))
    }

    /// The bytes the receiver holds do not have the digest of the bytes sent: nothing was
    /// delivered, and the receiver discarded what it held.
    public static func digestMismatch(_ reason: String) -> TransferError {
        TransferError(kind: .digestMismatch(reason))
    }

    /// The connection ended for good (the reconnecting client gave up or was stopped).
    public static func connectionEnded(_ ending: ReconnectPolicy.Disconnection?) -> TransferError {
        TransferError(kind: .connectionEnded(ending))
    }

    /// The receiver asked to resume from `offset`, but a stream source no longer has those bytes
    /// (it keeps only what was not acknowledged, from `earliest`).
    public static func cannotRewind(to offset: Int, earliest: Int) -> TransferError {
        TransferError(kind: .cannotRewind(to: offset, earliest: earliest))
    }

    /// The source could not be read, or did not have the size it announced.
    public static func sourceFailed(_ reason: String) -> TransferError {
        TransferError(kind: .sourceFailed(reason))
    }

    /// The peer sent something the protocol does not allow.
    public static func protocolViolation(_ reason: String) -> TransferError {
        TransferError(kind: .protocolViolation(reason))
    }

    /// The transfer cannot go on (the peer's limit leaves no room for a chunk).
    public static func cannotContinue(_ reason: String) -> TransferError {
        TransferError(kind: .cannotContinue(reason))
    }

    /// The receiver's refusal, when this error is one.
    public var refusal: TransferRefusal? {
        switch kind {
        case .refused(let refusal): return refusal
        case .digestMismatch(let reason): return TransferRefusal(.digestMismatch, reason)
        default: return nil
        }
    }

    /// Whether the bytes received did not match the digest, so nothing was delivered.
    public var isDigestMismatch: Bool {
        if case .digestMismatch = kind { return true }
        return false
    }

    public var description: String {
        switch kind {
        case .refused(let refusal):
            return "the receiver refused the transfer: \(refusal.reason)"
        case .digestMismatch(let reason):
            return "digest mismatch, nothing delivered: \(reason)"
        case .connectionEnded(let ending?):
            return "the connection ended before the transfer completed: \(ending)"
        case .connectionEnded(nil):
            return "the connection ended before the transfer completed"
        case .cannotRewind(let offset, let earliest):
            return "the receiver asked to resume at byte \(offset), but the stream keeps only bytes from \(earliest)"
        case .sourceFailed(let reason):
            return "the source failed: \(reason)"
        case .protocolViolation(let reason):
            return "the receiver broke the transfer protocol: \(reason)"
        case .cannotContinue(let reason):
            return reason
        }
    }
}
