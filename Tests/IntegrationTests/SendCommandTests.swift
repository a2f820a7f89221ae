import Foundation
import Holdfast
import HoldfastTransfer
import NIOCore
import Testing

/// `holdfast send` against `holdfast serve --mode files`, both as the built tool in subprocesses.
@Suite("holdfast send and serve --mode files", .timeLimit(.minutes(2)))
struct SendCommandTests {
    @Test("a 3 MB file through a 64 KiB limit: exit 0, the digest confirmed, the file identical, progress as plain lines")
    func sendsFile() async throws {
        try await withTemporaryDirectory { directory in
            let data = seededBytes(3_000_000)
            writeFile(directory + "/photo.raw", data)
            let inbox = directory + "/inbox"
            try await ServeProcess.with(["--mode", "files", "--files-dir", inbox, "--max-message-size", "65536"]) { server in
                let run = try await HoldfastTool.run(["send", server.url(), directory + "/photo.raw", "--chunk-size", "1048576"])
                #expect(run.status == 0, "\(run.stderr)")
                let digest = TransferDigest(of: data)
                #expect(run.stdout == "sent photo.raw: 3000000 bytes, sha256 \(digest), confirmed by the receiver\n")
                #expect(run.stderr.contains("sent 100% (3000000 of 3000000 bytes)\n"), "\(run.stderr)")
                #expect(!run.stderr.contains("\r"))
                #expect(run.stderr.contains("chunk size 65509"), "\(run.stderr)")
                #expect(try await digestOfFile(inbox + "/photo.raw") == digest)
            }
        }
    }

    @Test("mistakes get one line on stderr and exit 1",
          arguments: [
            (["send", "ws://127.0.0.1:9/", "/nonexistent/file.bin"], "holdfast: error: no such file: /nonexistent/file.bin"),
            (["send", "ws://127.0.0.1:9/", "/", "--chunk-size", "1"], "holdfast: error: / is a directory; send a file"),
            (["send", "ws://127.0.0.1:9/", "/etc/hostname", "--chunk-size", "0"],
             "holdfast: error: --chunk-size must be a positive number of bytes, not 0"),
            (["send", "http://127.0.0.1:9/", "/etc/hostname"], "holdfast: error: 'http://127.0.0.1:9/' is not a ws:// or wss:// URL"),
            (["serve", "--mode", "files"], "holdfast: error: --mode files needs --files-dir DIR, where received files go"),
            (["serve", "--files-dir", "/tmp/x"], "holdfast: error: --files-dir is for --mode files"),
          ])
    func mistakes(arguments: [String], error: String) async throws {
        let run = try await HoldfastTool.run(arguments)
        #expect(run.status == 1)
        #expect(run.stderr == error + "\n")
    }

    @Test("a name that would escape the directory is refused by the receiver: exit 1 with its reason")
    func refusedName() async throws {
        try await withTemporaryDirectory { directory in
            #expect(FileManager.default.createFile(atPath: directory + "/a.txt", contents: Data("hello".utf8)))
            try await ServeProcess.with(["--mode", "files", "--files-dir", directory + "/inbox"]) { server in
                let run = try await HoldfastTool.run(["send", server.url(), directory + "/a.txt", "--name", "../a.txt"])
                #expect(run.status == 1)
                #expect(run.stderr.hasSuffix("holdfast: error: the receiver refused the transfer: invalid name '../a.txt': "
                                             + "a path, not a file name (no separators allowed)\n"), "\(run.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["a.txt", "inbox"])
        }
    }
}
