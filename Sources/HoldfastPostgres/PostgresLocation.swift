import Foundation
import NIOSSL
import PostgresNIO

/// Where the cluster's PostgreSQL is: what `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` names.
///
/// The URL is the form every PostgreSQL tool takes (`psql`, `pg_dump`, libpq's `PGURL`), so the
/// same string goes to `holdfast serve --store` and to them. `sslmode=disable` or `sslmode=require`
/// in the query chooses TLS; without it TLS is used when the server offers it.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// The host name or address.
    public var host: String
    /// The TCP port. Default 5432.
    public var port: Int
    /// The role to connect as.
    public var username: String
    /// Its password, if the server asks for one.
    public var password: String?
    /// The database; PostgreSQL's default is the role's name.
    public var database: String
    /// Whether TLS is required (`true`), refused (`false`) or used when offered (`nil`).
    public var requiresTLS: Bool?

    /// Why a URL does not name a PostgreSQL database.
    public struct InvalidURL: Error, Sendable, CustomStringConvertible {
        /// What is wrong, for a person.
        public let description: String
    }

    /// Reads `url`, `postgres://` or `postgresql://`.
    /// - Throws: ``InvalidURL`` naming what is missing or wrong.
    public init(url: String) throws(InvalidURL) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw InvalidURL(description: "\(url) is not a URL; expected postgres://USER@HOST:PORT/DATABASE")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw InvalidURL(description: "\(url) is not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw InvalidURL(description: "\(url) names no host; expected postgres://USER@HOST:PORT/DATABASE")
        }
        guard let user = components.user, !user.isEmpty else {
            throw InvalidURL(description: "\(url) names no user; expected postgres://USER@HOST:PORT/DATABASE")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw InvalidURL(description: "\(url): port \(port) is out of range")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user
        self.password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? user : path
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
        case nil, "prefer", "allow": requiresTLS = nil
        case "disable": requiresTLS = false
        case "require", "verify-ca", "verify-full": requiresTLS = true
        case let mode?: throw InvalidURL(description: "\(url): unknown sslmode \(mode)")
        }
    }

    /// The URL without its password, for logs and pages.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }


    /// The settings of a pool of connections to this database.
    var clientConfiguration: PostgresClient.Configuration {
        let clientTLS: PostgresClient.Configuration.TLS
        switch requiresTLS {
        case nil: clientTLS = .prefer(.makeClientConfiguration())
        case false?: clientTLS = .disable
        case true?: clientTLS = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                         database: database, tls: clientTLS)
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }

    /// The settings of one connection to this database (the listener's).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch requiresTLS {
        case nil: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case false?: tls = .disable
        case true?: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                             database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}
