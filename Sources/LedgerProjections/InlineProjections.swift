public import LedgerCore
public import LedgerStore
public import Logging
public import PostgresNIO
import Synchronization

/// The read models an append writes in its own transaction (`ReadModelWriter`): the rows of every
/// projection that is live at this code's version, derived from the states the append decided, in
/// one statement per group (a CTE per table; prepared for the small groups of API appends).
///
/// Which projections are written inline is the `projections` table's word (`inline` at this
/// version): a projection being built for another version, or not yet attached, is left to its
/// build (see `ProjectionRunner`). That row changes only while appends are held back
/// (`EventStore.holdAppends`), so what an append reads of it holds for its whole transaction.
public final class InlineProjections: ReadModelWriter {
    let definitions: [ProjectionDefinition]
    /// The projections known to be written inline (once all are, nothing more is asked).
    private let live = Mutex<Set<String>>([])

    public init() { definitions = ProjectionDefinition.all }

    /// Groups up to this many changed postings and students use the prepared statement; larger ones
    /// (imports, big batches) have it planned with their values, as the append statements do.
    static let preparedLimit = 64

    /// Once every projection is known to be written inline, its rows go into the append's own
    /// write statement.
    public func rows(for changes: FoldChanges) -> (any ReadModelRows)? {
        guard live.withLock({ $0.count }) == definitions.count else { return nil }
        return InlineRows(changes: changes)
    }

    public func write(_ changes: FoldChanges, on connection: PostgresConnection, logger: Logger) async throws {
        var names = live.withLock { $0 }
        if names.count < definitions.count {
            names = try await Self.inlineNames(on: connection, logger: logger)
            live.withLock { $0 = names }
        }
        if names.count == definitions.count {
            let statement = WriteReadModels(changes: changes)
            guard statement.hasRows else { return }
            let prepared = changes.postings.count + changes.students.count <= Self.preparedLimit
            for try await _ in try await connection.run(statement, prepared: prepared, logger: logger) {}
        } else {
            let active = definitions.filter { names.contains($0.name) }.map { ($0, schema: $0.liveSchema) }
            guard !active.isEmpty, let query = ProjectionDefinition.writeStatement(changes, active) else { return }
            try await connection.run(query, logger: logger)
        }
    }

    /// The projections written inline at this code's version, as the `projections` table says.
    static func inlineNames(on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var names: Set<String> = []
        for try await name in try await connection.run(
            PostgresQuery(unsafeSQL: "SELECT name FROM projections WHERE inline AND \(ProjectionRunner.atCodeVersion)"), logger: logger
        ).decode(String.self) {
            names.insert(name)
        }
        return names
    }
}

/// Every projection's rows of an append group, as CTEs of the append's own write statement.
struct InlineRows: ReadModelRows {
    static let ctes = ProjectionDefinition.writeCTEs(
        ProjectionDefinition.all.map { ($0, schema: $0.liveSchema) }, first: ReadModelRowsParameters.first)
    static let name = ProjectionDefinition.all.map { "\($0.name)_v\($0.version)" }.joined(separator: "_")

    let changes: FoldChanges

    func appendBindings(to bindings: inout PostgresBindings) {
        for definition in ProjectionDefinition.all { _ = definition.bind(changes, &bindings) }
    }
}

/// Every projection's rows of an append group in one prepared statement.
struct WriteReadModels: PostgresPreparedStatement {
    static let name = "placement_write_read_models_" + ProjectionDefinition.all.map { "\($0.name)_v\($0.version)" }.joined(separator: "_")
    static let sql = ProjectionDefinition.writeSQL(ProjectionDefinition.all.map { ($0, schema: $0.liveSchema) })
    typealias Row = Int

    let bindings: PostgresBindings
    let hasRows: Bool

    init(changes: FoldChanges) {
        var bindings = PostgresBindings()
        var any = false
        for definition in ProjectionDefinition.all where definition.bind(changes, &bindings) { any = true }
        self.bindings = bindings
        self.hasRows = any
    }

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
}
