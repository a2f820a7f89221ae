import PostgresNIO

extension PSQLError {
    /// What went wrong, for a person: the error's code, the server's message, and the
    /// underlying failure (a refused connection, a timeout). PostgresNIO's own description is a
    /// placeholder, and its debug description includes the query with its binds; this names
    /// neither the query nor the password.
    var readableDescription: String {
        var parts = ["PostgreSQL error: \(code)"]
        if let message = serverInfo?[.message] { parts.append("\(message) (SQLSTATE \(serverInfo?[.sqlState] ?? "?"))") }
        if let underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
}

/// A failure of the shared storage, described for a person (see ``PSQLError/readableDescription``).
struct PostgresFailure: Error, CustomStringConvertible {
    let description: String

    /// `error` itself when it describes itself already, else a readable wrapper; a failed
    /// transaction is described by the error that failed it (its begin, a query, its commit).
    static func readable(_ error: any Error) -> any Error {
        let cause = cause(of: error)
        guard let postgres = cause as? PSQLError else { return cause }
        return PostgresFailure(description: postgres.readableDescription)
    }

    /// What failed: for a transaction, the error of its begin, a query or its commit, rather
    /// than the wrapper; any other error itself.
    static func cause(of error: any Error) -> any Error {
        guard let transaction = error as? PostgresTransactionError,
              let cause = transaction.beginError ?? transaction.closureError ?? transaction.commitError else { return error }
        return cause
    }
}
