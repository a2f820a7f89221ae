import HoldfastCore
import NIOCore
import Testing

@Suite("Duration.readableDescription — times as people read them")
struct DurationReadableTests {
    @Test("each range in its own unit, rounded to what matters", arguments: [
        (Duration.nanoseconds(750_400), "750 µs"),
        (.nanoseconds(69_815_474), "70 ms"),
        (.milliseconds(999), "999 ms"),
        (.seconds(1), "1 s"),
        (.milliseconds(1_500), "1.5 s"),
        (.seconds(10), "10 s"),
        (.seconds(60), "1 min"),
        (.seconds(125), "2 min 5 s"),
        (.seconds(3 * 3600 + 120 + 7), "3 h 2 min"),
        (.seconds(7200), "2 h"),
    ])
    func ranges(duration: Duration, expected: String) {
        #expect(duration.readableDescription == expected)
    }

    @Test("a TimeAmount reads the same as the Duration of its length")
    func timeAmount() {
        #expect(TimeAmount.milliseconds(250).readableDescription == "250 ms")
        #expect(TimeAmount.seconds(10).readableDescription == "10 s")
    }
}
