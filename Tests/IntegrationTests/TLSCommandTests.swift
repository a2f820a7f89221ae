import Foundation
import Holdfast
import Testing

/// `holdfast serve --tls-cert/--tls-key`, and `connect`/`probe` with `--ca`,
/// `--no-verify-hostname`, `--proxy` and the proxy variables, run as the built tool.
@Suite("holdfast over TLS and through proxies", .timeLimit(.minutes(2)))
struct TLSCommandTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared()
    }

    func serve(certificate: String, key: String) -> [String] {
        ["--tls-cert", certificate, "--tls-key", key]
    }

    /// A probe that makes few connections: a small size limit and one round trip.
    func probe(_ url: String, _ options: [String]) -> [String] {
        ["probe", url, "--json", "--probe-max", "4096", "--round-trips", "1"] + options
    }

    @Test("serve --tls-cert --tls-key listens on wss://, and probe --ca finds it echoing over TLS")
    func serveAndProbeOverTLS() async throws {
        try await ServeProcess.with(serve(certificate: certificates.serverCertificate, key: certificates.serverKey)) {
            server in
            #expect(server.isSecure)
            let run = try await HoldfastTool.run(probe(server.url(host: "localhost"), ["--ca", certificates.caFile]))
            #expect(run.status == 0, "\(run.stderr)")
            #expect(try run.jsonObject()["echoes"] as? Bool == true)
        }
    }

    @Test("connect --ca: lines out, echoes in, over wss://")
    func connectOverTLS() async throws {
        try await ServeProcess.with(serve(certificate: certificates.serverCertificate, key: certificates.serverKey)) {
            server in
            let run = try await HoldfastTool.run(["connect", server.url(host: "localhost"), "--ca", certificates.caFile,
                                              "--no-reconnect"], stdin: "first line\nsecond line\n")
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == "first line\nsecond line\n")
        }
    }

    @Test("an untrusted certificate, or one for another host: one line on stderr, exit 1",
          arguments: [("self-signed", "TLS: certificate is not trusted ("),
                      ("wrong-host", "TLS: certificate does not match host 'localhost'")])
    func refusedCertificates(certificate: String, cause: String) async throws {
        let arguments = serve(certificate: certificates.path("\(certificate).pem"),
                              key: certificates.path("\(certificate)-key.pem"))
        try await ServeProcess.with(arguments) { server in
            let url = server.url(host: "localhost")
            let run = try await HoldfastTool.run(["connect", url, "--ca", certificates.caFile, "--no-reconnect"])
            #expect(run.status == 1)
            #expect(run.stderr.hasPrefix("holdfast: error: cannot connect to \(url): \(cause)"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }

    @Test("--no-verify-hostname accepts the CA's certificate for another host")
    func noVerifyHostname() async throws {
        let arguments = serve(certificate: certificates.wrongHostCertificate, key: certificates.wrongHostKey)
        try await ServeProcess.with(arguments) { server in
            let run = try await HoldfastTool.run(probe(server.url(host: "localhost"),
                                                   ["--ca", certificates.caFile, "--no-verify-hostname"]))
            #expect(run.status == 0, "\(run.stderr)")
        }
    }

    @Test("serve with one TLS flag, or a file that is not PEM: one line on stderr, non-zero exit")
    func serveTLSFlagErrors() async throws {
        let cases: [([String], String)] = [
            (["--tls-cert", certificates.serverCertificate], "--tls-cert needs --tls-key"),
            (["--tls-key", certificates.serverKey], "--tls-key needs --tls-cert"),
            (serve(certificate: certificates.path("server.ext"), key: certificates.serverKey),
             "TLS: cannot load the certificate from '\(certificates.path("server.ext"))'"),
            (serve(certificate: certificates.serverCertificate, key: certificates.path("missing.pem")),
             "TLS: cannot load the private key from '\(certificates.path("missing.pem"))'"),
        ]
        for (arguments, message) in cases {
            let run = try await HoldfastTool.run(["serve", "--port", "0"] + arguments)
            #expect(run.status != 0)
            #expect(run.stderr.hasPrefix("holdfast: error: \(message)"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }

    @Test("probe --proxy tunnels every connection; without it http_proxy is used, unless --no-proxy")
    func probeThroughProxy() async throws {
        try await TestProxy.with { proxy in
            try await ServeProcess.with([]) { server in
                let explicit = try await HoldfastTool.run(probe(server.url(), ["--proxy", proxy.url()]))
                #expect(explicit.status == 0, "\(explicit.stderr)")
                let connections = try #require(try explicit.jsonObject()["connections"] as? Int)
                #expect(proxy.tunnelsOpened == connections)

                var environment = HoldfastTool.environmentWithoutProxies()
                environment["http_proxy"] = proxy.url()
                let fromEnvironment = try await HoldfastTool.run(probe(server.url(), []), environment: environment)
                #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
                let afterEnvironment = proxy.tunnelsOpened
                #expect(afterEnvironment > connections)

                let direct = try await HoldfastTool.run(probe(server.url(), ["--no-proxy"]), environment: environment)
                #expect(direct.status == 0, "\(direct.stderr)")
                #expect(proxy.tunnelsOpened == afterEnvironment)
            }
        }
    }

    @Test("a proxy that wants credentials: one line naming the proxy and its 407, exit 1")
    func proxyRefusal() async throws {
        try await TestProxy.with(requiredAuthorization: "Basic YWxpY2U6czNjckB0") { proxy in
            let run = try await HoldfastTool.run(["connect", "ws://127.0.0.1:1/", "--proxy", proxy.url(),
                                              "--no-reconnect"])
            #expect(run.status == 1)
            #expect(run.stderr.contains("refused with HTTP 407 Proxy Authentication Required"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }

    @Test("connect and probe --help show the TLS and proxy options with an example", arguments: ["connect", "probe"])
    func help(command: String) async throws {
        let run = try await HoldfastTool.run([command, "--help"])
        #expect(run.status == 0)
        for option in ["--ca", "--no-verify-hostname", "--proxy", "--no-proxy", "holdfast \(command) wss://"] {
            #expect(run.stdout.contains(option), "\(option)")
        }
    }
}
