/// The series of a store by ref, in an array indexed by the ref's number: refs are handed out
/// in order from 1, so lookups on the append path are an index, not a hash.
struct SeriesTable: Sendable {
    private var slots: [MemSeries?] = []
    /// Series held.
    private(set) var count = 0

    init() {}

    subscript(ref: SeriesRef) -> MemSeries? {
        get {
            let index = Int(truncatingIfNeeded: ref.rawValue)
            return index >= 0 && index < slots.count ? slots[index] : nil
        }
        set {
            let index = Int(truncatingIfNeeded: ref.rawValue)
            guard index >= 0 else { return }
            if index >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: index - slots.count + 1))
            }
            if slots[index] == nil && newValue != nil { count += 1 }
            if slots[index] != nil && newValue == nil { count -= 1 }
            slots[index] = newValue
        }
    }

    /// Appends to a held series in place (no copy of its chunks); nil when the ref is unknown.
    mutating func append(_ ref: SeriesRef, _ timestamp: Int64, _ value: Double, chunkRange: Int64) -> MemSeries.AppendOutcome? {
        let index = Int(truncatingIfNeeded: ref.rawValue)
        guard index >= 0, index < slots.count, slots[index] != nil else { return nil }
        return slots[index]!.tryAppend(timestamp, value, chunkRange: chunkRange)
    }

    /// Every series held, in ref order.
    var values: some Sequence<MemSeries> { slots.lazy.compactMap { $0 } }

    /// The refs of every series held, in order.
    var refs: [SeriesRef] { values.map(\.ref) }
}
