import NIOSSL

extension NIOSSLCertificate {
    /// The certificates of a PEM file, at least one, or a ``TLSFileError`` saying that the file
    /// should have held `contents`.
    static func loadPEMFile(_ path: String, contents: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try fromPEMFile(path)
        } catch {
            throw TLSFileError(path: path, contents: contents, error: error)
        }
        guard !certificates.isEmpty else {
            throw TLSFileError(path: path, contents: contents, error: NIOSSLError.failedToLoadCertificate)
        }
        return certificates
    }
}
