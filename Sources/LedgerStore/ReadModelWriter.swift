public import LedgerCore
public import Logging
public import PostgresNIO

/// What an append's transaction writes beside the log: the read models, derived from the states
/// the append has just decided. The store calls it once per group transaction, after the events
/// and stream heads are written and before COMMIT, so an acknowledged append is already in every
/// read model. The store knows nothing of the rows; the writer nothing of locks and positions.
public protocol ReadModelWriter: Sendable {
    /// Writes what `changes` (the group's postings before and after, and the students it touched)
    /// changed. Throwing rolls the whole group back.
    func write(_ changes: FoldChanges, on connection: PostgresConnection, logger: Logger) async throws
}
