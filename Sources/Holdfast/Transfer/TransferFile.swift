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
struct TransferFile: Sendable {
    /// The open file descriptor; the file is used from one task at a time, by offset.
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

    /// Opens `path` for reading and writing, creating it (mode 0644) if missing.
    static func openForWriting(_ path: String) async throws -> TransferFile {
        try await open(path, flags: O_RDWR | O_CREAT)
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
        let descriptor = self.descriptor
        let path = self.path
        return try await Self.offload {
            let end = lseek(descriptor, 0, SEEK_END)
            guard end >= 0 else { throw IOError(errnoCode: errno, reason: "size of \(path)") }
            return Int(end)
        }
    }

    /// Reads up to `length` bytes at `offset` (fewer only at the end of the file).
    func read(at offset: Int, length: Int) async throws -> ByteBuffer {
        let descriptor = self.descriptor
        let path = self.path
        return try await Self.offload {
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
        let descriptor = self.descriptor
        let path = self.path
        try await Self.offload {
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
        let descriptor = self.descriptor
        let path = self.path
        try await Self.offload {
            guard ftruncate(descriptor, off_t(length)) == 0 else {
                throw IOError(errnoCode: errno, reason: "truncate \(path)")
            }
        }
    }

    /// Waits until what was written is on the disk.
    func synchronize() async throws {
        let descriptor = self.descriptor
        let path = self.path
        try await Self.offload {
            guard fsync(descriptor) == 0 else { throw IOError(errnoCode: errno, reason: "fsync \(path)") }
        }
    }

    /// Closes the descriptor.
    func close() {
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
