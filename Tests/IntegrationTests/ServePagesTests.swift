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

    @Test("GET /favicon.ico: 204, no icon and no 426 in the browser's console")
    func favicon() async throws {
        try await ServeProcess.with([]) { server in
            let response = try await server.get("/favicon.ico")
            #expect(response.status == 204)
            #expect(response.body.isEmpty)
            // RFC 9110 §8.6: no Content-Length on a 204.
            #expect(response.header("Content-Length") == nil && response.header("Transfer-Encoding") == nil)
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
          arguments: ["/", "/codes/1009", "/codes/1001-vs-1009?lang=es", "/codes/999", "/status.js", "/holdfast.css",
                      "/holdfast.js", "/limits.json"])
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
            #expect(Self.inlineScripts(in: response.body) == 0)
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

    // MARK: The browser pages: /upload, /chat, and the status page in Spanish

    /// A temporary files folder for `--mode files`, removed after `body`.
    private func withFilesFolder<Result: Sendable>(_ body: ([String]) async throws -> Result) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-pages-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(["--mode", "files", "--files-dir", directory])
    }

    @Test("GET /upload in files mode: the page with its stable ids, its module script and the resume note")
    func uploadPage() async throws {
        try await withFilesFolder { arguments in
            try await ServeProcess.with(arguments) { server in
                let page = try await server.get("/upload")
                #expect(page.status == 200)
                #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
                for text in ["<html lang=\"en\">", "<input type=\"file\" id=\"file\">", "<progress id=\"progress\"",
                             "id=\"status\"", "id=\"result\"", "id=\"digest\"", "Hashing", "Sending", "Verified",
                             "offer the same file again", "<script type=\"module\" src=\"/upload.js\"></script>",
                             "href=\"/upload\" aria-current=\"page\"", "href=\"/upload?lang=es\" hreflang=\"es\""] {
                    #expect(page.body.contains(text), "\(text)")
                }
                #expect(!page.body.contains("href=\"/chat"))
                let script = try await server.get("/upload.js")
                #expect(script.status == 200)
                #expect(script.header("Content-Type")?.hasPrefix("text/javascript") == true)
                // From this server, at the versioned path of the client it serves.
                #expect(script.body.contains("import { upload } from \"/holdfast.js?v="))
                #expect(script.body.contains("from \"/pages.js\""))
                #expect(!script.body.contains("innerHTML"))
                let shared = try await server.get("/pages.js")
                #expect(shared.header("Content-Type")?.hasPrefix("text/javascript") == true)
                #expect(shared.body.contains("\"1001\":\"El extremo se va\""))
                #expect(try await server.get("/chat").status == 426)
                #expect(try await server.get("/chat.js").status == 426)
            }
        }
    }

    @Test("GET /upload?lang=es: the page in Spanish, its links keeping the language")
    func uploadPageInSpanish() async throws {
        try await withFilesFolder { arguments in
            try await ServeProcess.with(arguments) { server in
                let page = try await server.get("/upload?lang=es")
                #expect(page.status == 200)
                for text in ["<html lang=\"es\">", "Subir un archivo", "Calculando el hash", "Enviando", "Verificado",
                             "ofrece el mismo archivo otra vez", "href=\"/?lang=es\"", "href=\"/codes/?lang=es\"",
                             "href=\"/upload\" hreflang=\"en\""] {
                    #expect(page.body.contains(text), "\(text)")
                }
                #expect(!page.body.contains("Upload a file"))
            }
        }
    }

    @Test("GET /chat in channels mode: the room, its ids and its module script; ?room= and ?lang=es")
    func chatPage() async throws {
        try await ServeProcess.with(["--mode", "channels"]) { server in
            let page = try await server.get("/chat")
            #expect(page.status == 200)
            #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
            for text in ["data-room=\"room\"", "id=\"name\"", "id=\"message\"", "id=\"send\"", "id=\"log\"",
                         "id=\"status\"", "Chat room", "<script type=\"module\" src=\"/chat.js\"></script>"] {
                #expect(page.body.contains(text), "\(text)")
            }
            let spanish = try await server.get("/chat?room=%3Cb%3E%20caf%C3%A9&lang=es")
            #expect(spanish.status == 200)
            for text in ["<html lang=\"es\">", "Sala de chat", "Enviar", "data-room=\"&lt;b&gt; café\"",
                         "href=\"/chat?room=%3Cb%3E%20caf%C3%A9\" hreflang=\"en\""] {
                #expect(spanish.body.contains(text), "\(text)")
            }
            #expect(!spanish.body.contains("<b>"))
            #expect(try await server.get("/chat?room=%01").status == 400)
            let script = try await server.get("/chat.js")
            #expect(script.status == 200)
            #expect(script.header("Content-Type")?.hasPrefix("text/javascript") == true)
            #expect(script.body.contains("import { ChannelClient, MessageTooBigError } from \"/holdfast.js?v="))
            #expect(script.body.contains("textContent"))
            #expect(!script.body.contains("innerHTML"))
            #expect(try await server.get("/upload").status == 426)
            #expect(try await server.get("/upload.js").status == 426)
        }
    }

    @Test("/upload and /chat are not served in echo and broadcast modes", arguments: ["echo", "broadcast"])
    func browserPagesOnlyInTheirMode(mode: String) async throws {
        try await ServeProcess.with(["--mode", mode]) { server in
            for target in ["/upload", "/upload.js", "/chat", "/chat.js", "/pages.js"] {
                #expect(try await server.get(target).status == 426, "\(target)")
            }
            let status = try await server.get("/")
            #expect(!status.body.contains("href=\"/upload"))
            #expect(!status.body.contains("href=\"/chat"))
        }
    }

    @Test("GET /?lang=es: the status page in Spanish — headings, limits, links, and its script's live texts")
    func statusPageInSpanish() async throws {
        try await ServeProcess.with(["--mode", "channels", "--max-message-size", "65536"]) { server in
            let page = try await server.get("/?lang=es")
            #expect(page.status == 200)
            for text in ["<html lang=\"es\">", "Estado del servidor", "Cierres por código", "Límites en vigor",
                         "Conexiones ahora", "Canales", "Historial: en memoria", "Mensaje más grande",
                         "64,0 KiB (65536 bytes) (más: cierre 1009)", "href=\"/chat?lang=es\"",
                         "href=\"/codes/1001-vs-1009?lang=es\"", "href=\"/\" hreflang=\"en\"",
                         "<script src=\"/status.js\"></script>"] {
                #expect(page.body.contains(text), "\(text)")
            }
            for text in ["Server status", "Limits in force", "Largest message"] {
                #expect(!page.body.contains(text), "\(text)")
            }
            let english = try await server.get("/")
            #expect(english.body.contains("64.0 KiB (65536 bytes) (more: close 1009)"))
            #expect(english.body.contains("href=\"/?lang=es\" hreflang=\"es\""))
            let script = try await server.get("/status.js")
            for text in ["en directo", "desconectado — reintentando",
                         "Todavía no se ha cerrado ninguna conexión.", "\"1009\":\"Mensaje demasiado grande\"",
                         "?lang=es"] {
                #expect(script.body.contains(text), "\(text)")
            }
        }
    }

    @Test("the browser pages and their scripts are sent with the same security headers, no inline script or style",
          arguments: [("files", "/upload"), ("files", "/upload?lang=es"), ("files", "/upload.js"), ("files", "/pages.js"),
                      ("channels", "/chat"), ("channels", "/chat.js"), ("channels", "/chat?room=%01"),
                      ("channels", "/?lang=es")])
    func browserPagesSecurityHeaders(mode: String, target: String) async throws {
        let check: (ServeProcess) async throws -> Void = { server in
            let response = try await server.get(target)
            #expect(response.header("X-Content-Type-Options") == "nosniff")
            #expect(response.header("X-Frame-Options") == "DENY")
            let policy = try #require(response.header("Content-Security-Policy"))
            #expect(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(Self.inlineScripts(in: response.body) == 0)
            #expect(!response.body.contains("<style"))
            #expect(!response.body.contains(" style="))
        }
        if mode == "files" {
            try await withFilesFolder { arguments in try await ServeProcess.with(arguments, check) }
        } else {
            try await ServeProcess.with(["--mode", mode], check)
        }
    }

    /// The `<script>` elements of `html` that carry their code inline (no `src`), whatever their type.
    static func inlineScripts(in html: String) -> Int {
        html.components(separatedBy: "<script").dropFirst().filter { element in
            !(element.split(separator: ">", maxSplits: 1).first ?? "").contains("src=")
        }.count
    }
}
