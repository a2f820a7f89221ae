import ArgumentParser
import Foundation
import Holdfast

/// How the commands that connect (`connect`, `probe`) reach a server: the TLS trust of `wss://`
/// and the HTTP proxy.
struct ClientConnectionOptions: ParsableArguments {
    @Option(name: .customLong("ca"), help: ArgumentHelp(
        "Trust only the CA certificates in this PEM file for wss:// (e.g. a private CA); default: the system's.",
        valueName: "pem"))
    var caFile: String?

    @Flag(name: .customLong("no-verify-hostname"),
          help: "Accept a trusted certificate issued for another host name (testing only).")
    var noVerifyHostname = false

    @Option(name: .customLong("proxy"), help: ArgumentHelp(
        "HTTP proxy to tunnel through with CONNECT: http://[user:password@]host:port. Default: $https_proxy for wss://, $http_proxy for ws://, else $all_proxy, honouring $no_proxy.",
        valueName: "url"))
    var proxy: String?

    @Flag(name: .customLong("no-proxy"), help: "Connect directly, ignoring the proxy environment variables.")
    var noProxy = false

    /// The help text's lines about TLS and proxies, shared by the commands' discussions.
    static let discussion = """
        wss:// URLs trust the system's certificate authorities and check that the certificate \
        names the URL's host; --ca trusts a private CA instead, --no-verify-hostname skips the \
        name check (the certificate must still be trusted). An untrusted certificate, or one for \
        another host, is one line on stderr and exit status 1.
        """

    /// `configuration` with the TLS and proxy these options ask for, for `url`; a bad file or
    /// proxy URL is the tool's one-line error.
    func apply(to configuration: inout WebSocketClientConfiguration, for url: WebSocketURL) throws {
        do {
            var tls = try caFile.map { try WebSocketClientTLS(trustRootsFile: $0) } ?? WebSocketClientTLS()
            tls.hostnameVerification = !noVerifyHostname
            configuration.tls = tls
        } catch {
            throw Terminal.fail("--ca: \(error)")
        }
        if let proxy {
            do {
                configuration.proxy = try HTTPProxy(url: proxy)
            } catch {
                throw Terminal.fail("--proxy: \(error)")
            }
        } else if !noProxy {
            do {
                configuration.proxy = try HTTPProxy.fromEnvironment(ProcessInfo.processInfo.environment, for: url)
            } catch {
                throw Terminal.fail("\(error) (or pass --no-proxy)")
            }
        }
    }
}
