/// Operations on postings lists: ascending arrays of series ids without repeats.
enum Postings {
    /// The ids in both lists.
    static func intersect(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
        if a.count > 16 * b.count { return b.filter { contains(a, $0) } }
        if b.count > 16 * a.count { return a.filter { contains(b, $0) } }
        var result: [SeriesRef] = []
        result.reserveCapacity(min(a.count, b.count))
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] { i += 1 } else if a[i] > b[j] { j += 1 } else {
                result.append(a[i])
                i += 1
                j += 1
            }
        }
        return result
    }

    /// The ids in `a` but not in `b`.
    static func subtract(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
        guard !b.isEmpty else { return a }
        var result: [SeriesRef] = []
        result.reserveCapacity(a.count)
        var j = 0
        for id in a {
            while j < b.count && b[j] < id { j += 1 }
            if j < b.count && b[j] == id { continue }
            result.append(id)
        }
        return result
    }

    /// The ids in any of the lists, merged pairwise so the cost is n·log(k).
    static func union(_ lists: [[SeriesRef]]) -> [SeriesRef] {
        var lists = lists.filter { !$0.isEmpty }
        while lists.count > 1 {
            var merged: [[SeriesRef]] = []
            merged.reserveCapacity((lists.count + 1) / 2)
            var index = 0
            while index + 1 < lists.count {
                merged.append(merge(lists[index], lists[index + 1]))
                index += 2
            }
            if index < lists.count { merged.append(lists[index]) }
            lists = merged
        }
        return lists.first ?? []
    }

    private static func merge(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
        var result: [SeriesRef] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] {
                result.append(a[i])
                i += 1
            } else if a[i] > b[j] {
                result.append(b[j])
                j += 1
            } else {
                result.append(a[i])
                i += 1
                j += 1
            }
        }
        result.append(contentsOf: a[i...])
        result.append(contentsOf: b[j...])
        return result
    }

    /// Binary search for `id` in `list`.
    static func contains(_ list: [SeriesRef], _ id: SeriesRef) -> Bool {
        let index = insertionIndex(list, id)
        return index < list.count && list[index] == id
    }

    /// Where `id` belongs in `list`.
    static func insertionIndex(_ list: [SeriesRef], _ id: SeriesRef) -> Int {
        var low = 0
        var high = list.count
        while low < high {
            let middle = (low + high) / 2
            if list[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A series' stable identity within a store: assigned once, never reused, kept across restarts.
public struct SeriesRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number.
    public let rawValue: UInt64
    /// The ref numbered `rawValue`.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: SeriesRef, rhs: SeriesRef) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// Label names and values stored once each, and the postings of every (name, value) pair.
struct LabelIndex: Sendable {
    /// name → value → ascending series ids.
    private(set) var postings: [String: [String: [SeriesRef]]] = [:]
    /// Every live series, ascending.
    private(set) var all: [SeriesRef] = []
    /// One stored copy of each name and value, so series share their text.
    private var symbols: Set<String> = []

    /// The stored copy of `text`.
    mutating func intern(_ text: String) -> String {
        if let existing = symbols.firstIndex(of: text) { return symbols[existing] }
        symbols.insert(text)
        return text
    }

    /// Adds a series; `ref` is larger than every ref added before.
    mutating func add(_ ref: SeriesRef, _ labels: Labels) {
        all.append(ref)
        for label in labels {
            postings[label.name, default: [:]][label.value, default: []].append(ref)
        }
    }

    /// Adds a series whose ref may be smaller than others (replay of a checkpoint is in order,
    /// but this keeps the lists sorted whatever the order).
    mutating func insert(_ ref: SeriesRef, _ labels: Labels) {
        if let last = all.last, last >= ref {
            all.insert(ref, at: Postings.insertionIndex(all, ref))
            for label in labels {
                var list = postings[label.name, default: [:]][label.value, default: []]
                list.insert(ref, at: Postings.insertionIndex(list, ref))
                postings[label.name, default: [:]][label.value] = list
            }
        } else {
            add(ref, labels)
        }
    }

    /// Removes several series at once, one pass over each affected list.
    mutating func remove(_ removed: [(SeriesRef, Labels)]) {
        guard !removed.isEmpty else { return }
        let refs = removed.map(\.0).sorted()
        all = Postings.subtract(all, refs)
        var byPair: [String: [String: [SeriesRef]]] = [:]
        for (ref, labels) in removed {
            for label in labels { byPair[label.name, default: [:]][label.value, default: []].append(ref) }
        }
        for (name, values) in byPair {
            for (value, gone) in values {
                let remaining = Postings.subtract(postings[name]?[value] ?? [], gone.sorted())
                if remaining.isEmpty {
                    postings[name]?[value] = nil
                    if postings[name]?.isEmpty == true { postings[name] = nil }
                } else {
                    postings[name]?[value] = remaining
                }
            }
        }
        symbols = []
        for (name, values) in postings {
            symbols.insert(name)
            for value in values.keys { symbols.insert(value) }
        }
    }

    /// The series every matcher selects: postings intersected and subtracted, never a scan of
    /// all series' labels. Matchers that accept the empty value are applied as complements.
    func select(_ matchers: [LabelMatcher]) -> [SeriesRef] {
        var including: [[SeriesRef]] = []
        var excluding: [[SeriesRef]] = []
        for matcher in matchers {
            let values = postings[matcher.name] ?? [:]
            if matcher.matches("") {
                // Selects series without the label too: subtract those whose value fails.
                let failing = values.filter { !matcher.matches($0.key) }.map(\.value)
                if !failing.isEmpty { excluding.append(Postings.union(failing)) }
            } else if matcher.kind == .equal {
                including.append(values[matcher.value] ?? [])
            } else {
                including.append(Postings.union(values.filter { matcher.matches($0.key) }.map(\.value)))
            }
        }
        var result: [SeriesRef]
        if including.isEmpty {
            result = all
        } else {
            including.sort { $0.count < $1.count }
            result = including[0]
            for list in including.dropFirst() where !result.isEmpty { result = Postings.intersect(result, list) }
        }
        for list in excluding where !result.isEmpty { result = Postings.subtract(result, list) }
        return result
    }

    /// Every label name in use.
    var names: [String] { postings.keys.sorted() }

    /// Every value of `name` in use.
    func values(of name: String) -> [String] { (postings[name]?.keys).map { $0.sorted() } ?? [] }
}
