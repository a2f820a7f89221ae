/// What a subscription replays, decided from the position the client asked for and where the
/// channel's stream stands. Pure: the server's glue reads the stream and follows the plan.
public struct RecoveryPlan: Sendable, Hashable {
    /// The answer the client gets before the replay.
    public var answer: ChannelSubscribed
    /// The replay covers the offsets after this one, up to `answer.position.offset`; equal to it
    /// when nothing is replayed.
    public var replayAfter: UInt64

    /// Plans a subscription to `channel`.
    /// - Parameters:
    ///   - channel: the channel subscribed to.
    ///   - since: the position the client asked to resume after, if any.
    ///   - stream: the stream's epoch and last offset now.
    ///   - oldestRetained: the first offset the history still holds (`stream.offset + 1` when it
    ///     holds none).
    ///   - maxReplay: the most publications one subscription replays.
    /// - Returns: the plan, or `offsetFromFuture` when `since` lies beyond the stream in its epoch.
    public static func plan(channel: ChannelName, since: StreamPosition?, stream: StreamPosition,
                            oldestRetained: UInt64, maxReplay: Int) -> Result<RecoveryPlan, ChannelsError>
    {
        let top = stream.offset
        guard let since else {
            return .success(RecoveryPlan(answer: ChannelSubscribed(channel: channel, position: stream, recovered: nil,
                                                                   from: top + 1), replayAfter: top))
        }
        let replayLimitStart = top > UInt64(maxReplay) ? top - UInt64(maxReplay) : 0
        let retainedStart = max(oldestRetained, 1) - 1
        let sameStream = since.epoch == stream.epoch
        if sameStream, since.offset > top {
            return .failure(ChannelsError(.offsetFromFuture,
                                          "offset \(since.offset) is beyond the end of the stream (\(top)) in epoch \(stream.epoch)",
                                          channel: channel.value))
        }
        // Another epoch: the client's history is gone; it gets what the new stream still holds.
        let wanted = sameStream ? since.offset : 0
        let start = max(wanted, retainedStart, replayLimitStart)
        let recovered = sameStream && start == wanted
        return .success(RecoveryPlan(answer: ChannelSubscribed(channel: channel, position: stream, recovered: recovered,
                                                               from: start + 1), replayAfter: start))
    }
}
