#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HoldfastCore
import NIOCore

/// The directory transfers are delivered into, as a disk store and a shared store use it: the
/// name check before any byte is sent, the move that delivers a verified file, and the bytes the
/// delivered files take.
struct TransferDirectory: Sendable {
    /// Where delivered files go.
    let path: String
    /// Where a store keeps its own files (partial data, records, files being assembled): a name
    /// no transfer may take, on the same file system, so that a delivery is one rename or link.
    let partialPath: String
    /// Whether a delivered transfer replaces a file of the same name.
    let overwrite: Bool

    init(path: String, overwrite: Bool) {
        self.path = path
        self.partialPath = path + "/.holdfast-partial"
        self.overwrite = overwrite
    }

    /// Where transfer `name` is delivered.
    func destination(of name: String) -> String { "\(path)/\(name)" }

    /// Creates the directory and its partial directory if needed.
    func create() async throws {
        let partialPath = self.partialPath
        try await TransferFile.offload { try createDirectories(partialPath) }
    }

    /// Throws ``TransferRefusal/Code/nameTaken`` when `offer` would be delivered over an
    /// existing file and files are not replaced, so the sender is told before any byte is sent.
    func refuseIfTaken(_ offer: TransferOffer) async throws {
        // Names starting with a dot are refused before this; the check stays for the partial
        // directory's own name, whatever the name rules become.
        guard offer.name != ".holdfast-partial" else {
            throw TransferRefusal(.invalidName, "the name .holdfast-partial is the receiver's own directory")
        }
        let destination = destination(of: offer.name)
        if !overwrite, try await TransferFile.offload({ fileStatus(destination) != nil }) {
            throw TransferRefusal(.nameTaken, "a file named \(offer.name) exists; send it under another name")
        }
    }

    /// Moves the verified file at `source` to its name: the file appears whole under its name,
    /// or not at all.
    /// - Throws: ``TransferRefusal/Code/nameTaken`` when a file of that name appeared meanwhile
    ///   and files are not replaced; an `IOError` otherwise.
    func deliver(_ source: String, as offer: TransferOffer) async throws {
        let destination = destination(of: offer.name)
        let overwrite = self.overwrite
        do {
            try await TransferFile.offload {
                // Without overwrite it is a hard link, which fails rather than replace a file
                // that appeared meanwhile; rename would replace it.
                if overwrite {
                    guard rename(source, destination) == 0 else {
                        throw IOError(errnoCode: errno, reason: "rename to \(destination)")
                    }
                } else {
                    guard link(source, destination) == 0 else {
                        throw IOError(errnoCode: errno, reason: "link to \(destination)")
                    }
                    unlink(source)
                }
            }
        } catch let error as IOError where error.errnoCode == EEXIST {
            throw TransferRefusal(.nameTaken, "a file named \(offer.name) appeared while the transfer was sent; "
                                  + "send it under another name")
        }
    }

    /// The bytes of the regular files directly in the directory: what transfers delivered (or
    /// what was put there beside them, which takes the same disk).
    func deliveredBytes() async -> Int {
        let path = self.path
        let total = try? await TransferFile.offload {
            ((try? listDirectory(path)) ?? []).reduce(0) { total, name in
                guard let status = fileStatus("\(path)/\(name)"), status.isRegularFile else { return total }
                return total + status.size
            }
        }
        return total ?? 0
    }

    /// Deletes the files at `paths`, whichever exist.
    static func remove(_ paths: [String]) async {
        guard !paths.isEmpty else { return }
        _ = try? await TransferFile.offload {
            for path in paths { unlink(path) }
        }
    }
}

/// Creates `path` and the directories above it that are missing (`mkdir -p`).
func createDirectories(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        prefix += "/" + component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw IOError(errnoCode: errno, reason: "create directory \(prefix)")
        }
    }
}

/// The names in a directory, without `.` and `..`.
func listDirectory(_ path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw IOError(errnoCode: errno, reason: "list \(path)") }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// What `stat` tells of a path, or `nil` when there is nothing there.
func fileStatus(_ path: String) -> (size: Int, modified: Int, isRegularFile: Bool)? {
    var status = stat()
    guard stat(path, &status) == 0 else { return nil }
    #if canImport(Darwin)
    let modified = Int(status.st_mtimespec.tv_sec) * 1_000_000_000 + Int(status.st_mtimespec.tv_nsec)
    #else
    let modified = Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec)
    #endif
    return (Int(status.st_size), modified, (status.st_mode & S_IFMT) == S_IFREG)
}
