import Synchronization

/// This instance's encoded answers to "the top n providers", each kept only while the Redis
/// ranking it was read from is unchanged, so a read of a current answer costs no Redis round trip.
///
/// Answers are forgotten the moment the ranking changes: the relay publishes every change (see
/// ``RankingKeys/changes``) and this instance's ``RankingChangeListener`` hears it, and a relay
/// in this process tells the memo directly. Answers are kept only while the listener is
/// subscribed — without the subscription a change made by another instance's relay could go
/// unheard — and the listener's periodic check of the applied-sequence marker drops any answer
/// the marker has moved past, should a change reach Redis without its message (a `FLUSHALL`).
public final class TopProvidersMemo: Sendable {
    /// One kept answer: the outbox sequence it reflects and the response body.
    public struct Answer: Sendable, Equatable {
        public let sequence: Int64
        public let body: [UInt8]

        public init(sequence: Int64, body: [UInt8]) {
            self.sequence = sequence
            self.body = body
        }
    }

    /// Taken before reading Redis; an answer is kept only if nothing changed since its ticket.
    public struct Ticket: Sendable, Equatable {
        let generation: UInt64
    }

    private struct State {
        var listening = false
        /// Moves on every change, so an answer read before a change is never kept after it.
        var generation: UInt64 = 0
        var answers: [Int: Answer] = [:]

        mutating func forget() {
            generation &+= 1
            answers.removeAll(keepingCapacity: true)
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// The kept answer for the first `count` providers, if there is a current one.
    public func answer(top count: Int) -> Answer? {
        state.withLock { $0.answers[count] }
    }

    /// A ticket for keeping an answer about to be read; nil while changes cannot be heard.
    public func ticket() -> Ticket? {
        state.withLock { $0.listening ? Ticket(generation: $0.generation) : nil }
    }

    /// Keeps `answer` for `count`, unless the ranking changed (or the subscription was lost)
    /// since `ticket` was taken.
    public func keep(_ answer: Answer, top count: Int, ticket: Ticket) {
        state.withLock { state in
            guard state.listening, state.generation == ticket.generation else { return }
            state.answers[count] = answer
        }
    }

    /// The ranking changed: every kept answer is forgotten.
    public func rankingChanged() {
        state.withLock { $0.forget() }
    }

    /// Whether changes can be heard: only then are answers kept. Either way, what was kept is
    /// forgotten, since changes may have gone unheard around the switch.
    public func setListening(_ listening: Bool) {
        state.withLock { state in
            state.listening = listening
            state.forget()
        }
    }

    /// Whether answers are being kept (the listener is subscribed).
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Forgets every answer unless all reflect `marker`, the applied sequence Redis holds now
    /// (nil when it has none); returns whether anything was forgotten.
    @discardableResult
    public func confirm(marker: Int64?) -> Bool {
        state.withLock { state in
            guard state.answers.values.contains(where: { $0.sequence != marker }) else { return false }
            state.forget()
            return true
        }
    }
}
