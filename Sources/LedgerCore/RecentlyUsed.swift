/// A bounded map that keeps what is in use: two generations of at most `generation` entries each.
/// An entry found in the older generation moves to the newer; when the newer fills up it becomes
/// the older and the older is dropped whole. Cheaper than an exact LRU (no list to maintain), and
/// a flood of new keys can only push out keys that were not used for a whole generation.
public struct RecentlyUsed<Key: Hashable, Value> {
    public let generation: Int
    private var current: [Key: Value] = [:]
    private var previous: [Key: Value] = [:]

    public init(generation: Int) {
        self.generation = max(1, generation)
    }

    /// The value of `key`, moved to the newer generation.
    public mutating func get(_ key: Key) -> Value? {
        if let value = current[key] { return value }
        guard let value = previous.removeValue(forKey: key) else { return nil }
        set(value, for: key)
        return value
    }

    public mutating func set(_ value: Value, for key: Key) {
        if current[key] == nil, current.count >= generation {
            previous = current
            current = [:]
        }
        current[key] = value
        previous[key] = nil
    }

    /// Entries held in both generations.
    public var count: Int { current.count + previous.count }
}

extension RecentlyUsed: Sendable where Key: Sendable, Value: Sendable {}
