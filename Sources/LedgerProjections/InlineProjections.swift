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

    /// Once every projection is known to be written inline, its rows go into the append's own
    /// write statement: only the tables the group changes (every other table's CTE would still open
    /// the table and its indexes), so a group's statement is one of a few prepared variants.
    public func rows(for changes: FoldChanges) -> (any ReadModelRows)? {
        guard live.withLock({ $0.count }) == definitions.count else { return nil }
        return InlineSQL.rows(ChangedRows(changes))
    }

    /// Before every projection is known to be inline: asks the database which are, and writes those
    /// in a statement of their own.
    public func write(_ changes: FoldChanges, on connection: PostgresConnection, logger: Logger) async throws {
        var names = live.withLock { $0 }
        if names.count < definitions.count {
            names = try await Self.inlineNames(on: connection, logger: logger)
            live.withLock { $0 = names }
        }
        let active = definitions.filter { names.contains($0.name) }.map { ($0, schema: $0.liveSchema) }
        guard !active.isEmpty, let query = ProjectionDefinition.writeStatement(changes, active) else { return }
        try await connection.run(query, logger: logger)
    }

    /// The projections written inline at this code's version, as the `projections` table says.
    static func inlineNames(on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var names: Set<String> = []
        for try await name in try await connection.run(
            PostgresQuery(unsafeSQL: "SELECT name FROM projections WHERE inline AND \(ProjectionRunner.atCodeVersion())"), logger: logger
        ).decode(String.self) {
            names.insert(name)
        }
        return names
    }
}

/// Whether a table of `InlineRows` is written (a type, so that each combination is a statement type
/// of its own, prepared once per connection).
protocol TableSwitch { static var on: Bool { get } }
enum Written: TableSwitch { static var on: Bool { true } }
enum Skipped: TableSwitch { static var on: Bool { false } }

/// The read-model rows of an append group, as CTEs of the append's own write statement, for the
/// tables (in `InlineRows.writes` order: postings, placements, applications, payments,
/// report_months, lines, report_changes) that the switches say it changes.
struct InlineRows<
    P: TableSwitch, L: TableSwitch, A: TableSwitch, Y: TableSwitch, R: TableSwitch, H: TableSwitch, C: TableSwitch
>: ReadModelRows {
    static var switches: [Bool] { [P.on, L.on, A.on, Y.on, R.on, H.on, C.on] }
    static var key: String { switches.map { $0 ? "1" : "0" }.joined() }
    static var name: String { InlineSQL.versions + "_" + key }
    static var ctes: String { InlineSQL.ctes(key: key, switches: switches) }

    let rows: ChangedRows

    func appendBindings(to bindings: inout PostgresBindings) {
        for (write, on) in zip(InlineSQL.writes, Self.switches) where on { write.0.bind(rows, &bindings) }
    }
}

/// The SQL of the inline variants, made once per variant.
enum InlineSQL {
    /// Every table's write, in the projections' order (the switches of `InlineRows` follow it).
    static let writes: [(TableWrite, schema: String)] = ProjectionDefinition.all.flatMap { d in d.writes.map { ($0, schema: d.liveSchema) } }
    /// The projections' versions, short: a prepared statement's name is cut at 63 bytes, and
    /// variants cut to one name would collide.
    static let versions = ProjectionDefinition.all.map { "\($0.name.prefix(2))\($0.version)" }.joined()
    private static let cache = Mutex<[String: String]>([:])

    /// The variant for the tables `rows` changes (none: no CTE at all).
    static func rows(_ rows: ChangedRows) -> any ReadModelRows {
        let on = writes.map { $0.0.count(rows) > 0 }
        func pick(_ on: Bool) -> any TableSwitch.Type { on ? Written.self : Skipped.self }
        func make<P: TableSwitch, L: TableSwitch, A: TableSwitch, Y: TableSwitch, R: TableSwitch, H: TableSwitch, C: TableSwitch>(
            _: P.Type, _: L.Type, _: A.Type, _: Y.Type, _: R.Type, _: H.Type, _: C.Type
        ) -> any ReadModelRows {
            InlineRows<P, L, A, Y, R, H, C>(rows: rows)
        }
        return make(pick(on[0]), pick(on[1]), pick(on[2]), pick(on[3]), pick(on[4]), pick(on[5]), pick(on[6]))
    }

    static func ctes(key: String, switches: [Bool]) -> String {
        cache.withLock { cache in
            if let sql = cache[key] { return sql }
            let selected = zip(writes, switches).filter(\.1).map(\.0)
            let sql = TableWrite.ctes(selected, first: ReadModelRowsParameters.first)
            cache[key] = sql
            return sql
        }
    }
}
