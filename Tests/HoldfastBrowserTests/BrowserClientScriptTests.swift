import Foundation
import HoldfastBrowser
import HoldfastCore
import NIOHTTP1
import Testing

@Suite("holdfast.js as served: the Swift reconnect policy embedded, a version, the cache headers")
struct BrowserClientScriptTests {
    @Test("the default policy reaches the browser as the codes the Swift client retries")
    func defaultPolicy() {
        let policy = BrowserReconnectPolicy()
        #expect(policy.retriedCloseCodes == [1001, 1005, 1006, 1009, 1011, 1012, 1013, 1014])
        #expect(policy.serverRestartCloseCodes == [1001, 1012, 1013])
        #expect(policy.initialDelayMs == 250 && policy.serverRestartInitialDelayMs == 2000)
        #expect(policy.minimumRetryHintMs == 100 && policy.maximumDelayMs == 30_000 && policy.resetAfterMs == 10_000)
        #expect(policy.multiplier == 2 && policy.maximumAttempts == nil)
        #expect(policy.pageLeftCode == 4001)
        // 4001 itself is not retried: the page reconnects when it is shown again, not on a timer.
        #expect(!policy.retriedCloseCodes.contains(policy.pageLeftCode))
    }

    @Test("a custom shouldRetry and custom delays are what the browser gets")
    func customPolicy() {
        let custom = ReconnectPolicy(initialDelay: .milliseconds(40), serverRestartInitialDelay: .milliseconds(40),
                                     maximumAttempts: 5) { disconnection in
            guard case .closed(let outcome) = disconnection else { return nil }
            if outcome.code == CloseCode(4100) { return true }
            return outcome.code == .messageTooBig ? false : nil
        }
        let policy = BrowserReconnectPolicy(custom)
        #expect(policy.retriedCloseCodes == [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4100])
        // Both first delays are the same: no code widens it.
        #expect(policy.serverRestartCloseCodes == [])
        #expect(policy.initialDelayMs == 40 && policy.maximumAttempts == 5)
    }

    @Test("the served module holds the policy's JSON in place of its marker, and nothing else changes")
    func embedsPolicy() throws {
        let script = try BrowserClientScript()
        #expect(!script.source.contains("/* holdfast:policy */ null"))
        let line = try #require(script.source.split(separator: "\n").first { $0.contains("/* holdfast:policy */") })
        let json = try #require(line.range(of: "/* holdfast:policy */ ").map { line[$0.upperBound...] })
        let decoded = try JSONSerialization.jsonObject(with: Data(json.dropLast().utf8)) as? [String: Any]
        #expect(decoded?["retriedCloseCodes"] as? [Int] == [1001, 1005, 1006, 1009, 1011, 1012, 1013, 1014])
        #expect(decoded?["pageLeftCode"] as? Int == 4001)
    }

    @Test("the version follows the content: another policy, another version")
    func version() throws {
        let standard = try BrowserClientScript()
        let again = try BrowserClientScript()
        let other = try BrowserClientScript(policy: ReconnectPolicy(maximumAttempts: 3))
        #expect(standard.version == again.version)
        #expect(standard.version != other.version)
        #expect(standard.version.count == 12 && standard.version.allSatisfy(\.isHexDigit))
        #expect(standard.versionedPath == "/holdfast.js?v=\(standard.version)")
    }

    @Test("cached for a year when asked by its version, revalidated otherwise")
    func cacheHeaders() throws {
        let script = try BrowserClientScript()
        let versioned = script.response(query: "v=\(script.version)")
        #expect(versioned.headers["Cache-Control"] == ["public, max-age=31536000, immutable"])
        #expect(versioned.headers["Content-Type"] == ["text/javascript; charset=utf-8"])
        #expect(versioned.headers["ETag"] == ["\"\(script.version)\""])
        for query in [nil, "v=000000000000", "x=1"] {
            #expect(script.response(query: query).headers["Cache-Control"] == ["no-cache"])
        }
        #expect(String(buffer: versioned.body) == script.source)
    }

    @Test("a revalidation naming this version gets 304 without the module; another version gets the module")
    func revalidation() throws {
        let script = try BrowserClientScript()
        let unchanged = script.response(query: nil, ifNoneMatch: "W/\"x\", \"\(script.version)\"")
        #expect(unchanged.status == .notModified)
        #expect(unchanged.body.readableBytes == 0)
        #expect(unchanged.headers["ETag"] == ["\"\(script.version)\""])
        let changed = script.response(query: nil, ifNoneMatch: "\"000000000000\"")
        #expect(changed.status == .ok)
        #expect(String(buffer: changed.body) == script.source)
    }
}

@Suite("the limits a page reads before it sends")
struct BrowserLimitsTests {
    private func request(origin: String?) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: BrowserLimits.path)
        if let origin { head.headers.add(name: "Origin", value: origin) }
        return head
    }

    @Test("the configuration's limits as JSON, never cached")
    func json() throws {
        let limits = BrowserLimits(WebSocketConfiguration(maxMessageSize: 65536, maxFrameSize: 16384), mode: "files")
        let response = limits.response(to: request(origin: nil), allowedOrigins: nil)
        let decoded = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
        #expect(decoded?["maxMessageSize"] as? Int == 65536)
        #expect(decoded?["maxFrameSize"] as? Int == 16384)
        #expect(decoded?["mode"] as? String == "files")
        #expect(response.headers["Cache-Control"] == ["no-store"])
        #expect(response.headers["Access-Control-Allow-Origin"] == ["*"])
    }

    @Test("with allowed origins, only those may read it")
    func origins() {
        let limits = BrowserLimits(maxMessageSize: 1024, maxFrameSize: 1024)
        let allowed = limits.response(to: request(origin: "https://a.example"), allowedOrigins: ["https://a.example"])
        #expect(allowed.headers["Access-Control-Allow-Origin"] == ["https://a.example"])
        #expect(allowed.headers["Vary"] == ["Origin"])
        let other = limits.response(to: request(origin: "https://evil.example"), allowedOrigins: ["https://a.example"])
        #expect(other.headers["Access-Control-Allow-Origin"].isEmpty)
    }
}
