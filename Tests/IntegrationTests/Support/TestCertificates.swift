import Foundation
import NIOConcurrencyHelpers

/// Certificates made at run time with the `openssl` command, in a temporary directory: nothing
/// secret is committed, and each test run makes its own, in a directory of its own.
///
/// - `ca.pem`: a private CA.
/// - `server.pem`/`server-key.pem`: signed by the CA, for `localhost` and `127.0.0.1`.
/// - `wrong-host.pem`/`wrong-host-key.pem`: signed by the CA, for `wrong.example` only.
/// - `self-signed.pem`/`self-signed-key.pem`: for `localhost`, signed by nobody the client trusts.
struct TestCertificates: Sendable {
    let directory: URL

    var caFile: String { path("ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server-key.pem") }
    var wrongHostCertificate: String { path("wrong-host.pem") }
    var wrongHostKey: String { path("wrong-host-key.pem") }
    var selfSignedCertificate: String { path("self-signed.pem") }
    var selfSignedKey: String { path("self-signed-key.pem") }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        let description: String
    }

    private static let made = NIOLockedValueBox<TestCertificates?>(nil)

    /// The certificates, made once per test run (EC keys: milliseconds each).
    static func shared() throws -> TestCertificates {
        try made.withLockedValue { made in
            if let made { return made }
            let certificates = try make()
            made = certificates
            return certificates
        }
    }

    private static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("holdfast-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try certificates.openssl(["req", "-x509"] + curve + [
            "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Holdfast Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try certificates.signed("server", commonName: "localhost", names: "DNS:localhost,IP:127.0.0.1")
        try certificates.signed("wrong-host", commonName: "wrong.example", names: "DNS:wrong.example")
        try certificates.openssl(["req", "-x509"] + curve + [
            "-keyout", "self-signed-key.pem", "-out", "self-signed.pem", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        return certificates
    }

    /// A certificate for `names` (subjectAltName syntax) signed by the CA.
    private func signed(_ name: String, commonName: String, names: String) throws {
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "\(name)-key.pem", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"])
        try "subjectAltName=\(names)\nextendedKeyUsage=serverAuth\n"
            .write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                     "-CAcreateserial", "-out", "\(name).pem", "-days", "2", "-extfile", "\(name).ext"])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl \(arguments.joined(separator: " ")) failed: "
                                + String(decoding: message, as: UTF8.self))
        }
    }
}
