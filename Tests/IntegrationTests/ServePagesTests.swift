import Foundation
import Holdfast
import Testing

/// The pages `holdfast serve` answers to plain HTTP GETs, and its status WebSocket, run as the
/// built tool.
@Suite("holdfast serve pages — /codes, the status page and its live feed", .timeLimit(.minutes(1)))
struct ServePagesTests {
    @Test("GET /codes/1009: 200 text/html with the code's name, title and English headings")
    func onePage() async throws {
        try await ServeProcess.with([]) { server in
            let response = try await server.get("/codes/1009")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
            for text in ["<html lang=\"en\">", "messageTooBig", "Message Too Big", "What it means",
                         "When you will see it", "How to fix it"] {
                #expect(response.body.contains(text), "\(text)")
            }
        }
    }

    @Test("GET /codes/1001-vs-1009?lang=es: the comparison with its Spanish headings")
    func comparisonInSpanish() async throws {
        try await ServeProcess.with([]) { server in
            let response = try await server.get("/codes/1001-vs-1009?lang=es")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
            for text in ["<html lang=\"es\">", "1001 goingAway frente a 1009 messageTooBig", "Diferencias clave",
                         "Cuándo aplica cada uno", "Qué significa", "Mensaje demasiado grande",
                         "href=\"/codes/1009?lang=es\""] {
                #expect(response.body.contains(text), "\(text)")
            }
            #expect(!response.body.contains("Key differences"))
        }
    }

    @Test("a code out of range, not a number, or a bad pair: a 404 HTML page",
          arguments: ["/codes/999", "/codes/5000", "/codes/abc", "/codes/1001-vs-999", "/codes/1001-vs-", "/codes/1001-1009"])
    func notFound(target: String) async throws {
        try await ServeProcess.with([]) { server in
            let response = try await server.get(target)
            #expect(response.status == 404)
            #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(response.body.contains("404"))
        }
    }

    @Test("GET /: the status page, as text/html, linked to the /codes pages and listing the limits")
    func statusPage() async throws {
        try await ServeProcess.with(["--mode", "broadcast", "--max-message-size", "65536"]) { server in
            let response = try await server.get("/")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
            for text in ["Server status", "Closes by code", "Limits in force", "href=\"/codes/1001-vs-1009\"",
                         "broadcast", "65536 bytes", "<script src=\"/status.js\"></script>"] {
                #expect(response.body.contains(text), "\(text)")
            }
            let script = try await server.get("/status.js")
            #expect(script.status == 200)
            #expect(script.header("Content-Type")?.hasPrefix("text/javascript") == true)
            #expect(script.body.contains("/_status"))
        }
    }

    @Test("every page and file is sent with nosniff, a policy that forbids inline script, and no framing",
          arguments: ["/", "/codes/1009", "/codes/1001-vs-1009?lang=es", "/codes/999", "/status.js", "/holdfast.css"])
    func securityHeaders(target: String) async throws {
        try await ServeProcess.with([]) { server in
            let response = try await server.get(target)
            #expect(response.header("X-Content-Type-Options") == "nosniff")
            #expect(response.header("X-Frame-Options") == "DENY")
            let policy = try #require(response.header("Content-Security-Policy"))
            for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                              "frame-ancestors 'none'"] {
                #expect(policy.contains(directive), "\(directive)")
            }
            #expect(!policy.contains("unsafe-inline"))
            // What the policy forbids, the pages must not need: no inline script or style.
            #expect(!response.body.contains("<script>"))
            #expect(!response.body.contains("<style>"))
        }
    }

    @Test("the status page names the files folder, never its absolute path on the server's disk")
    func noAbsolutePaths() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-inbox-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await ServeProcess.with(["--mode", "files", "--files-dir", directory]) { server in
            let page = try await server.get("/")
            #expect(page.status == 200)
            #expect(!page.body.contains(directory))
            #expect(!page.body.contains(FileManager.default.temporaryDirectory.path))
            #expect(page.body.contains((directory as NSString).lastPathComponent))
        }
    }

    @Test("the status WebSocket pushes snapshots that count the clients' traffic, not its own")
    func liveFeed() async throws {
        try await ServeProcess.with([]) { server in
            try await connect(server.url("/echo")) { client in
                var echoes = client.messages.makeAsyncIterator()
                for text in ["one", "two", "three"] {
                    try await client.send(text: text)
                    #expect(await echoes.next() == .text(text))
                }
                // The echo client is open, and three messages went each way.
                let text = try await connect(server.url("/_status")) { status in
                    var snapshots = status.messages.makeAsyncIterator()
                    return try #require(await snapshots.next()?.text)
                }
                let json = try JSONSerialization.jsonObject(with: Data(text.utf8))
                let snapshot = try #require(json as? [String: Any])
                #expect(snapshot["connections"] as? Int == 1)
                #expect(snapshot["viewers"] as? Int == 1)
                #expect(snapshot["messagesReceived"] as? Int == 3)
                #expect(snapshot["messagesSent"] as? Int == 3)
                #expect(snapshot["bytesReceived"] as? Int == 11)
                #expect(snapshot["bytesSent"] as? Int == 11)
            }
        }
    }
}
