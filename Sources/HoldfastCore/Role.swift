/// Which end of a WebSocket connection this endpoint is.
///
/// The role decides the masking rules of RFC 6455 §5.1: a client masks every frame it sends and
/// rejects masked frames; a server requires masked frames and never masks its own.
public enum Role: Sendable, Hashable {
    /// The endpoint that accepted the TCP connection and answered the upgrade.
    case server
    /// The endpoint that opened the TCP connection and sent the upgrade request.
    case client
}
