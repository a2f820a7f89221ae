import PostgresNIO

extension PSQLError {
    /// What went wrong, for a person: the error's code, the server's message, and the
    /// underlying failure (a refused connection, a timeout). PostgresNIO's own description is a
    /// placeholder, and its debug description includes the query with its binds; this names
    /// neither the query nor the password.
    var readableDescription: String {
        var parts = ["PostgreSQL error: \(code)"]
        if let message = serverInfo?[.message] { parts.append(message) }
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
        if let transaction = error as? PostgresTransactionError,
           let cause = transaction.beginError ?? transaction.closureError ?? transaction.commitError {
            return readable(cause)
        }
        guard let postgres = error as? PSQLError else { return error }
        return PostgresFailure(description: postgres.readableDescription)
    }
}
