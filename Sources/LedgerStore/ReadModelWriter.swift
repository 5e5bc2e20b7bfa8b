public import LedgerCore
public import Logging
public import PostgresNIO

/// What an append's transaction writes beside the log: the read models, derived from the states
/// the append has just decided. The store calls it once per group transaction, after the events
/// and stream heads are written and before COMMIT, so an acknowledged append is already in every
/// read model. The store knows nothing of the rows; the writer nothing of locks and positions.
public protocol ReadModelWriter: Sendable {
    /// The rows `changes` (the group's postings before and after, and the students it touched)
    /// changed, to be written by the append's own write statement (one round trip for the events
    /// and every read model); nil when the writer must ask the database first, and then the store
    /// calls `write` after its statement.
    func rows(for changes: FoldChanges) -> (any ReadModelRows)?

    /// Writes what `changes` changed, in the append's transaction. Throwing rolls the whole group back.
    func write(_ changes: FoldChanges, on connection: PostgresConnection, logger: Logger) async throws
}

/// Read-model rows written by the append's own write statement: data-modifying CTEs added after
/// the store's (events, stream heads, payment references).
public protocol ReadModelRows: Sendable {
    /// The CTEs, comma-separated, their parameters numbered from `ReadModelRowsParameters.first`.
    /// The same text for every value of the type: the statement is prepared once per connection.
    static var ctes: String { get }
    /// Names the statement apart from the store's others (the CTEs' version).
    static var name: String { get }
    /// The CTEs' parameters, in order.
    func appendBindings(to bindings: inout PostgresBindings)
}

/// Where the parameters of `ReadModelRows.ctes` start: after the store's own.
public enum ReadModelRowsParameters {
    public static let first = writeEventsParameterCount + 1
}

/// No read-model rows in the write statement.
struct NoReadModelRows: ReadModelRows {
    static let ctes = ""
    static let name = "none"
    func appendBindings(to bindings: inout PostgresBindings) {}
}
