#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// A file opened for positional reads and writes, with each blocking call run on NIO's thread
/// pool so that no task of the cooperative pool waits on the disk.
///
/// The descriptor is closed when the last reference goes, never while a read or write holds
/// one (each call's closure holds the file): a descriptor closed under a write could be reused
/// by another file and written into.
final class TransferFile: Sendable {
    /// The open file descriptor; reads and writes are positional, so tasks never share a cursor.
    private let descriptor: CInt
    /// The path it was opened at, for error messages.
    let path: String

    private init(descriptor: CInt, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Opens `path` for reading only.
    static func openForReading(_ path: String) async throws -> TransferFile {
        try await open(path, flags: O_RDONLY)
    }

    /// Opens `path` for reading and writing, creating it (mode 0644) if missing and asked to.
    static func openForWriting(_ path: String, creating: Bool = true) async throws -> TransferFile {
        try await open(path, flags: creating ? O_RDWR | O_CREAT : O_RDWR)
    }

    private static func open(_ path: String, flags: CInt) async throws -> TransferFile {
        try await offload {
            let descriptor = systemOpen(path, flags | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
            return TransferFile(descriptor: descriptor, path: path)
        }
    }

    /// The file's size in bytes.
    func size() async throws -> Int {
        try await Self.offload { [self] in
            let end = lseek(descriptor, 0, SEEK_END)
            guard end >= 0 else { throw IOError(errnoCode: errno, reason: "size of \(path)") }
            return Int(end)
        }
    }

    /// Reads up to `length` bytes at `offset` (fewer only at the end of the file).
    func read(at offset: Int, length: Int) async throws -> ByteBuffer {
        try await Self.offload { [self] in
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var done = 0
            while done < length {
                let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length - done) { pointer in
                    pread(descriptor, pointer.baseAddress, length - done, off_t(offset + done))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw IOError(errnoCode: errno, reason: "read \(path)")
                }
                if count == 0 { break }
                done += count
            }
            return buffer
        }
    }

    /// Writes all of `data` at `offset`.
    func write(_ data: ByteBuffer, at offset: Int) async throws {
        try await Self.offload { [self] in
            try data.withUnsafeReadableBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let count = pwrite(descriptor, bytes.baseAddress.map { $0 + done }, bytes.count - done,
                                       off_t(offset + done))
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw IOError(errnoCode: errno, reason: "write \(path)")
                    }
                    done += count
                }
            }
        }
    }

    /// Cuts the file to `length` bytes.
    func truncate(to length: Int) async throws {
        try await Self.offload { [self] in
            guard ftruncate(descriptor, off_t(length)) == 0 else {
                throw IOError(errnoCode: errno, reason: "truncate \(path)")
            }
        }
    }

    /// Waits until what was written is on the disk.
    func synchronize() async throws {
        try await Self.offload { [self] in
            guard fsync(descriptor) == 0 else { throw IOError(errnoCode: errno, reason: "fsync \(path)") }
        }
    }

    deinit {
        _ = systemClose(descriptor)
    }

    /// Runs a blocking call on NIO's shared thread pool.
    static func offload<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

private func systemOpen(_ path: String, _ flags: CInt, _ mode: mode_t) -> CInt {
    open(path, flags, mode)
}

private func systemClose(_ descriptor: CInt) -> CInt {
    close(descriptor)
}
