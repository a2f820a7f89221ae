import NIOConcurrencyHelpers
import NIOCore

/// One value per event loop, made on first request: what the connections of a loop share.
final class PerEventLoop<Value: Sendable>: Sendable {
    private let values = NIOLockedValueBox<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable () -> Value

    init(_ make: @escaping @Sendable () -> Value) {
        self.make = make
    }

    /// Every value made so far.
    var all: [Value] { values.withLockedValue { Array($0.values) } }

    /// The value of `eventLoop`; looked up once per connection.
    func value(for eventLoop: any EventLoop) -> Value {
        values.withLockedValue { values in
            if let value = values[ObjectIdentifier(eventLoop)] { return value }
            let value = make()
            values[ObjectIdentifier(eventLoop)] = value
            return value
        }
    }
}
