#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HoldfastCore
import NIOCore
import NIOPosix

extension WebSocketClient {
    /// Why connecting failed, in one line a person can act on: `connection refused`, `unknown host
    /// 'x'`, `no answer within 10 s (connection timed out)`, a handshake's or a TLS error's own
    /// description — instead of NIO's error dumps. The reconnecting client reports network
    /// failures this way.
    public static func describeFailure(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let resolution = error.dnsAError ?? error.dnsAAAAError {
                return describeFailure(resolution)
            }
            // Happy Eyeballs tries every address of the host; say each distinct cause once.
            var causes: [String] = []
            for failure in error.connectionErrors {
                let cause = describeFailure(failure.error)
                if !causes.contains(cause) { causes.append(cause) }
            }
            return causes.isEmpty ? "no address found for host '\(error.host)'" : causes.joined(separator: "; ")
        case let error as IOError:
            return describe(errno: error.errnoCode)
        case let error as SocketAddressError.UnknownHost:
            return "unknown host '\(error.host)' (\(error.errorDescription))"
        case let error as ChannelError:
            if case .connectTimeout(let timeout) = error {
                return "no answer within \(timeout.readableDescription) (connection timed out)"
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

    private static func describe(errno code: CInt) -> String {
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
}
