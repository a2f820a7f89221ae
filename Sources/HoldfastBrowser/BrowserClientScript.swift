import Crypto
import Foundation
import HoldfastCore
import NIOCore
import NIOHTTP1

/// `holdfast.js`, the browser client, as a server sends it: the module kept in this package with
/// the reconnect policy embedded (``BrowserReconnectPolicy``), and a version derived from that
/// content. Pages load it from ``versionedPath``, which browsers may cache for a year because a
/// new content has a new version; the plain ``path`` is always revalidated.
public struct BrowserClientScript: Sendable {
    /// Where servers answer with the script.
    public static let path = "/holdfast.js"
    /// The module's source, policy embedded.
    public let source: String
    /// The first 12 hexadecimal digits of the SHA-256 of ``source``.
    public let version: String
    /// The policy embedded in ``source``.
    public let policy: BrowserReconnectPolicy

    /// The URL path that names this content: ``path`` with `?v=` ``version``.
    public var versionedPath: String { "\(Self.path)?v=\(version)" }

    /// The packaged module is missing, or lacks the one marker where the policy goes.
    public struct Unusable: Error, CustomStringConvertible {
        /// What is wrong.
        public let description: String
    }

    /// The marker in the module's source after which the policy's JSON goes (in place of `null`).
    static let policyMarker = "/* holdfast:policy */ null"

    /// The packaged module with `policy` embedded.
    public init(policy: ReconnectPolicy = ReconnectPolicy()) throws {
        guard let url = Bundle.module.url(forResource: "holdfast", withExtension: "js") else {
            throw Unusable(description: "holdfast.js is missing from the HoldfastBrowser resources")
        }
        try self.init(moduleSource: String(contentsOf: url, encoding: .utf8), policy: BrowserReconnectPolicy(policy))
    }

    /// `moduleSource` with `policy` in place of its marker.
    init(moduleSource: String, policy: BrowserReconnectPolicy) throws {
        let parts = moduleSource.components(separatedBy: Self.policyMarker)
        guard parts.count == 2 else {
            throw Unusable(description: "holdfast.js must hold the marker `\(Self.policyMarker)` exactly once")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(policy), as: UTF8.self)
        source = parts[0] + "/* holdfast:policy */ " + json + parts[1]
        self.policy = policy
        version = SHA256.hash(data: Data(source.utf8)).prefix(6).map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    /// The answer to a GET of ``path`` with `query`: cached for a year when the query names this
    /// version (`v=`), revalidated every time otherwise (a page that names an old version still
    /// gets the current module, uncached). A revalidation whose `If-None-Match` (`ifNoneMatch`)
    /// names this version is answered 304 Not Modified, without the module.
    public func response(query: String?, ifNoneMatch: String? = nil) -> PlainHTTPResponse {
        let tag = "\"\(version)\""
        let named = query?.split(separator: "&").contains { $0 == "v=\(version)" } ?? false
        let cached = ifNoneMatch?.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == tag } ?? false
        var response = cached ? PlainHTTPResponse(status: .notModified)
            : PlainHTTPResponse(contentType: "text/javascript", body: source)
        response.headers.add(name: "Cache-Control", value: named ? "public, max-age=31536000, immutable" : "no-cache")
        response.headers.add(name: "ETag", value: tag)
        return response
    }
}
