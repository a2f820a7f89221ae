import Foundation
import Holdfast
import NIOCore
import NIOPosix

/// Why the tool could not reach a WebSocket server, as one line a person can act on: the URL and
/// a short cause (`cannot connect to ws://127.0.0.1:1/: connection refused`,
/// `cannot connect to wss://localhost:8443/: TLS: certificate is not trusted (…)`), never NIO's dump of
/// an error's fields. Commands that connect (`probe`, `connect`) report failures through it.
enum ConnectionFailure {
    /// The URL checked before any connection: a `ws://` or `wss://` URL, or a one-line error.
    static func checkedURL(_ url: String) throws -> WebSocketURL {
        do {
            return try WebSocketURL(url)
        } catch {
            // Most reasons quote the URL already; the others get it in front.
            throw Terminal.fail(error.reason.contains(url) ? error.reason : "invalid URL '\(url)': \(error.reason)")
        }
    }

    /// The one line for a failed connection to `url`.
    /// A proxy in use is named, since it is the proxy that a refused or timed-out connect was to.
    static func message(connectingTo url: String, through proxy: HTTPProxy? = nil, _ error: any Error) -> String {
        let route = proxy.map { " through proxy \($0)" } ?? ""
        return "cannot connect to \(url)\(route): \(cause(of: error))"
    }

    /// The short cause of an error thrown while connecting: refused, timed out, unknown host, a
    /// handshake the server answered wrongly.
    static func cause(of error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let resolution = error.dnsAError ?? error.dnsAAAAError {
                return cause(of: resolution)
            }
            // Happy Eyeballs tries every address of the host; say each distinct cause once.
            var causes: [String] = []
            for failure in error.connectionErrors {
                let cause = cause(of: failure.error)
                if !causes.contains(cause) { causes.append(cause) }
            }
            return causes.isEmpty ? "no address found for host '\(error.host)'" : causes.joined(separator: "; ")
        case let error as IOError:
            return cause(errno: error.errnoCode)
        case let error as SocketAddressError.UnknownHost:
            return "unknown host '\(error.host)' (\(error.errorDescription))"
        case let error as ChannelError:
            if case .connectTimeout(let timeout) = error {
                return "no answer within \(seconds(timeout)) (connection timed out)"
            }
            return "\(error)"
        case let error as HandshakeError:
            return error.description
        case let error as WebSocketURL.ParseError:
            return error.reason
        default:
            return "\(error)"
        }
    }

    /// The usual errors of `connect(2)` in plain words; others as the system describes them.
    private static func cause(errno code: CInt) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ETIMEDOUT: return "connection timed out"
        case EHOSTUNREACH: return "host unreachable"
        case ENETUNREACH: return "network unreachable"
        case ECONNRESET: return "connection reset by the server"
        case EADDRNOTAVAIL: return "address not available"
        default: return String(cString: strerror(code)).lowercased()
        }
    }

    private static func seconds(_ time: TimeAmount) -> String {
        let value = Double(time.nanoseconds) / 1e9
        return value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
