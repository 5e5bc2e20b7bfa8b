import Foundation
import Histogram
import LedgerCore
import LedgerProjections
import LedgerStore
import NIOCore
import PostgresNIO
import Synchronization

extension Bench {
    func runAll(_ options: PlacementBench, into report: inout Report) async throws {
        let selected = Set(options.selected)
        let seconds = Int(options.phase.seconds)
        var (daemon, load) = try await startDaemon()
        defer { daemon.stop() }

        if selected.contains("appends") {
            for (i, clients) in options.clientCounts.enumerated() {
                print("\n== single-event appends, \(clients) clients, \(seconds) s")
                let histories = ClientHistories(clients: clients, run: "a\(i)")
                let ours = try await load.closedLoop(clients: clients, duration: options.phase) { client in
                    histories.next(client).map { LoadRequest.append([$0]) }
                }
                try check(ours, "single-event appends")
                try await waitForProjections()
                print("   raw: pgbench, one single-row INSERT per transaction, \(clients) clients")
                try raw.createTable("bench_raw")
                let baseline = try raw.pgbench(
                    script: RawPostgres.insertScript(table: "bench_raw", rows: 1, data: Bench.typicalData), clients: clients, seconds: seconds,
                    directory: workDirectory)
                report.add(
                    ResultRow(
                        workload: "single-event appends, \(clients) clients", unit: "events/s", ours: ours.eventsPerSecond, raw: baseline.tps,
                        bar: .ratio(0.5),
                        details: [
                            ("p50", "\(format(ours.percentileMilliseconds(50))) ms"), ("p99", "\(format(ours.percentileMilliseconds(99))) ms"),
                            ("p999", "\(format(ours.percentileMilliseconds(99.9))) ms"),
                            ("raw mean latency", "\(format(baseline.latencyAverageMilliseconds)) ms"),
                        ]))
            }
        }

        if selected.contains("batches") {
            let clients = options.batchClients, size = options.batchSize
            print("\n== \(size)-event batches, \(clients) clients, \(seconds) s")
            let histories = ClientHistories(clients: clients, run: "b")
            let ours = try await load.closedLoop(clients: clients, duration: options.phase) { client in
                let events = histories.next(client, count: size)
                return events.isEmpty ? nil : LoadRequest.append(events)
            }
            try check(ours, "batches")
            try await waitForProjections()
            print("   raw: pgbench, one \(size)-row INSERT per transaction, \(clients) clients")
            try raw.createTable("bench_raw")
            let baseline = try raw.pgbench(
                script: RawPostgres.insertScript(table: "bench_raw", rows: size, data: Bench.typicalData), clients: clients,
                seconds: seconds, directory: workDirectory)
            report.add(
                ResultRow(
                    workload: "\(size)-event batches, \(clients) clients", unit: "events/s", ours: ours.eventsPerSecond,
                    raw: baseline.tps * Double(size), bar: .ratio(0.5),
                    details: [("p99", "\(format(ours.percentileMilliseconds(99))) ms per batch")]))
        }

        if selected.contains("lag") {
            print("\n== projection lag at \(options.lagRate) appends/s, \(seconds) s")
            for row in try await lag(load: load, options: options) { report.add(row) }
        }

        if selected.contains("import") {
            daemon.stop()
            try await importWorkload(options, into: &report)
            print("\n== the daemon catches up with the import")
            let before = try await projectionProgress()
            // The import wrote the read models inline when they were attached already; a ledger
            // imported before its first daemon start is caught up in place when the daemon starts.
            let backlog = try await scalar("SELECT count(*) FROM events WHERE position > \(before.checkpoint)")
            (daemon, load) = try await startDaemon()
            let elapsed = try await waitForProjections()
            let memory = daemon.memory
            let vacuum = try await settle()
            if backlog > 0 {
                report.add(
                    ResultRow(
                        workload: "daemon catch-up of \(backlog) events (both projections)", unit: "events/s",
                        ours: Double(backlog) / max(elapsed.seconds, 0.001), raw: nil, bar: .none,
                        details: [("peak RSS", "\(memory.peak >> 20) MiB"), ("VACUUM ANALYZE afterwards", "\(format(vacuum.seconds)) s")]))
            } else {
                print("   nothing to catch up: the import wrote the read models in its own transactions")
            }
        }

        if selected.contains("rebuild") {
            let runner = ProjectionRunner(client: client, logger: logger)
            for definition in ProjectionDefinition.all {
                print("\n== rebuild of \(definition.name) from position 0 (the daemon keeps serving)")
                let result = try await runner.rebuild(definition)
                report.add(
                    ResultRow(
                        workload: "rebuild \(definition.name), \(result.events) events", unit: "events/s",
                        ours: Double(result.events) / max(result.elapsed.seconds, 0.001), raw: nil, bar: .atLeast(100_000),
                        details: [("time", "\(format(result.elapsed.seconds)) s"), ("appends held at the swap", "\(format(result.appendsHeld.seconds * 1000)) ms")]))
            }
        }

        if selected.contains("seal") {
            let total = try await scalar("SELECT count(*) FROM events")
            print("\n== first seal of \(total) events: placementctl seal (the Merkle tree, its tiles, the signature)")
            let elapsed = try sealNow()
            report.add(
                ResultRow(
                    workload: "first seal of \(total) events", unit: "events/s", ours: Double(total) / max(elapsed.seconds, 0.001), raw: nil,
                    bar: .atLeast(200_000), details: [("time", "\(format(elapsed.seconds)) s (the command's whole run)")]))
        }

        if selected.contains("proof") {
            if try await scalar("SELECT count(*) FROM seals WHERE format = 2") == 0 {
                print("\n== a signed seal for the proofs: placementctl seal")
                _ = try sealNow()
            }
            let total = try await scalar("SELECT count(*) FROM events")
            print("\n== placement proofs at \(total) events, 1 client, \(seconds) s")
            report.add(try await proofs(load: load, options: options, total: total))
        }

        if selected.contains("queries") {
            let total = try await scalar("SELECT count(*) FROM events")
            // A rebuild swapped in fresh tables, which autovacuum visits next: settle them too.
            if selected.contains("rebuild") { _ = try await settle() }
            for clients in options.queryClientCounts {
                print("\n== dashboard and list queries at \(total) events, \(clients) client\(clients == 1 ? "" : "s"), \(seconds) s")
                try await report.add(queries(load: load, clients: clients, options: options, total: total))
            }
        }

        if selected.contains("history") {
            let total = try await scalar("SELECT count(*) FROM events")
            print("\n== reports of the ledger's history (statement, aging, as_of) at \(total) events, 1 client, \(seconds) s each")
            for row in try await history(load: load, options: options, total: total) { report.add(row) }
        }

        let memory = daemon.memory
        let total = try await scalar("SELECT count(*) FROM events")
        report.add(
            ResultRow(
                workload: "daemon peak RSS at \(total) events", unit: "MiB", ours: Double(memory.peak >> 20), raw: nil, bar: .atMost(256),
                details: [("RSS now", "\(memory.current >> 20) MiB")]))
    }

    func check(_ result: LoadResult, _ name: String) throws {
        print("   \(result.requests) requests, \(result.events) events in \(format(result.elapsed.seconds)) s, statuses \(result.statuses)")
        if let failure = result.firstFailure {
            throw LoadError("\(name): \(result.failures) requests failed; the first: \(failure)")
        }
        guard result.requests > 0 else { throw LoadError("\(name): no request was sent") }
    }

    // MARK: Lag

    func lag(load: HTTPLoad, options: PlacementBench) async throws -> [ResultRow] {
        // Enough connections that the rate, not the connections, sets the pace: each sends its share
        // on schedule as long as the append latency stays under connections / rate (64 ms here).
        let connections = max(16, options.lagRate / 16)
        let histories = ClientHistories(clients: connections, run: "l")
        let acks = Shared<[(ContinuousClock.Instant, Int64)]>([])
        let polls = Shared<[(ContinuousClock.Instant, Int64)]>([])
        let done = Shared(false)
        let clock = ContinuousClock()
        // The live feed (SSE) from the head of the log: when each position arrives.
        let head = try await scalar("SELECT COALESCE(max(position), 0) FROM events")
        let arrivals = Shared<[(ContinuousClock.Instant, Int64)]>([])
        let partial = Shared<[UInt8]>([])
        let finished = Shared<ContinuousClock.Instant?>(nil)
        let ours = try await withThrowingTaskGroup(of: LoadResult?.self) { group in
            group.addTask {
                try await load.stream(
                    "/v1/events/live?after=\(head)",
                    stop: {
                        guard let end = finished.value else { return false }
                        let last = acks.withLock { $0.map(\.1).max() ?? 0 }
                        let seen = arrivals.withLock { $0.last?.1 ?? 0 }
                        return seen >= last || clock.now - end > .seconds(10)
                    },
                    received: { buffer in
                        let now = clock.now
                        // Lines may be cut between parts: `id: P` lines, the rest kept for the next part.
                        let ids = partial.withLock { rest -> [Int64] in
                            rest += buffer.readableBytesView
                            var found: [Int64] = []
                            while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
                                let line = rest[..<newline]
                                if line.starts(with: "id: ".utf8), let p = Int64(String(decoding: line.dropFirst(4), as: UTF8.self)) { found.append(p) }
                                rest.removeSubrange(...newline)
                            }
                            return found
                        }
                        if !ids.isEmpty { arrivals.withLock { a in for id in ids { a.append((now, id)) } } }
                    })
                return nil
            }
            group.addTask {
                // The projections' lowest checkpoint, every 2 ms.
                while !done.value {
                    let checkpoint = try await self.scalar(Bench.reflectedQuery)
                    let now = clock.now
                    polls.withLock { $0.append((now, checkpoint)) }
                    try await Task.sleep(for: .milliseconds(2))
                }
                finished.withLock { $0 = clock.now }
                // Until the last acknowledged position is passed.
                let last = acks.withLock { $0.map(\.1).max() ?? 0 }
                while true {
                    let checkpoint = try await self.scalar(Bench.reflectedQuery)
                    let now = clock.now
                    polls.withLock { $0.append((now, checkpoint)) }
                    if checkpoint >= last { return nil }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            group.addTask {
                defer { done.withLock { $0 = true } }
                return try await load.openLoop(
                    rate: options.lagRate, connections: connections, duration: options.phase,
                    next: { histories.next($0).map { LoadRequest.append([$0]) } },
                    onSuccess: { _, response, at in
                        if let position = response.position { acks.withLock { $0.append((at, position)) } }
                    })
            }
            var result: LoadResult?
            for try await r in group where r != nil { result = r }
            return result!
        }
        try check(ours, "lag")
        // For each acknowledgement: the first poll at or after it whose checkpoint covers it.
        let pollLog = polls.value
        var lags = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var index = 0
        for (ackedAt, position) in acks.value.sorted(by: { $0.0 < $1.0 }) {
            while index < pollLog.count && pollLog[index].0 < ackedAt { index += 1 }
            guard let hit = pollLog[index...].first(where: { $0.1 >= position }) else { continue }
            _ = lags.record(UInt64(max(0, (hit.0 - ackedAt).seconds * 1e6)))
        }
        let p99 = Double(lags.valueAtPercentile(99)) / 1000
        // For each acknowledgement: when the live feed delivered its position (at once if before).
        let delivered = Dictionary(arrivals.value.map { ($0.1, $0.0) }, uniquingKeysWith: { first, _ in first })
        var live = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var missing = 0
        for (ackedAt, position) in acks.value {
            guard let at = delivered[position] else {
                missing += 1
                continue
            }
            _ = live.record(UInt64(max(0, (at - ackedAt).seconds * 1e6)))
        }
        if missing > 0 { throw LoadError("the live feed did not deliver \(missing) of \(acks.value.count) acknowledged events") }
        return [
            ResultRow(
                workload: "projection lag at \(options.lagRate) appends/s", unit: "ms p99", ours: p99, raw: nil, bar: .atMost(250),
                details: [
                    ("p50", "\(format(Double(lags.valueAtPercentile(50)) / 1000)) ms"),
                    ("max", "\(format(Double(lags.max) / 1000)) ms"), ("achieved", "\(format(ours.eventsPerSecond)) appends/s"),
                    ("append p99", "\(format(ours.percentileMilliseconds(99))) ms"), ("samples", String(lags.totalCount)),
                    ("resolution", "2 ms polling"),
                ]),
            ResultRow(
                workload: "live feed (SSE) lag at \(options.lagRate) appends/s", unit: "ms p99", ours: Double(live.valueAtPercentile(99)) / 1000,
                raw: nil, bar: .atMost(250),
                details: [
                    ("p50", "\(format(Double(live.valueAtPercentile(50)) / 1000)) ms"), ("max", "\(format(Double(live.max) / 1000)) ms"),
                    ("samples", String(live.totalCount)), ("counted", "acknowledgement to arrival, one subscriber"),
                ]),
        ]
    }

    // MARK: Import

    func importWorkload(_ options: PlacementBench, into report: inout Report) async throws {
        let count = options.eventCount
        let file = workDirectory + "/import.ndjson"
        print("\n== import of \(count) events with placementctl import (daemon stopped)")
        var history = DemoHistory(postings: count / 15 + 64, seed: UInt64.random(in: 1...UInt64.max))
        history.postingPrefix = "imp-"
        guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
            throw LoadError("cannot create \(file)")
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 22)
        var written = 0
        for event in history.prefix(count) {
            buffer += Array(event.json.canonicalString.utf8)
            buffer.append(0x0A)
            written += 1
            if buffer.count >= 1 << 22 {
                handle.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        handle.write(Data(buffer))
        try handle.close()
        chmod(file, 0o644)

        let headBefore = try await scalar("SELECT COALESCE(max(position), 0) FROM events")
        let clock = ContinuousClock()
        let start = clock.now
        try runChecked([binaries + "/placementctl", "import", file] + daemonArguments)
        let ours = clock.now - start
        let imported = try await scalar("SELECT count(*) FROM events WHERE position > \(headBefore)")
        guard imported == written else { throw LoadError("import recorded \(imported) of \(written) events") }

        print("   raw: COPY of the same \(imported) rows into an equivalent table (psql \\copy)")
        let rows = workDirectory + "/rows.copy"
        _ = try raw.psql("\\copy (SELECT * FROM events WHERE position > \(headBefore)) TO '\(rows)'")
        try raw.createTable("bench_copy")
        let copyStart = clock.now
        _ = try raw.psql("\\copy bench_copy FROM '\(rows)'")
        let copy = clock.now - copyStart
        _ = try raw.psql("DROP TABLE bench_copy; DROP TABLE IF EXISTS bench_raw")
        try? FileManager.default.removeItem(atPath: rows)
        try? FileManager.default.removeItem(atPath: file)
        report.add(
            ResultRow(
                workload: "placementctl import of \(imported) events", unit: "events/s", ours: Double(imported) / ours.seconds,
                raw: Double(imported) / copy.seconds, bar: .ratio(0.3),
                details: [("time", "\(format(ours.seconds)) s"), ("COPY time", "\(format(copy.seconds)) s")]))
    }

    /// The import, or a rebuild, leaves a million fresh rows that autovacuum visits in the next
    /// minutes, taking a core from whatever is measured then. Vacuum them now, as pgbench does
    /// before its runs, so the workloads after measure our work, not the vacuum's.
    func settle() async throws -> Duration {
        print("   settling: VACUUM ANALYZE (autovacuum would otherwise run during the next workloads)")
        let clock = ContinuousClock()
        let started = clock.now
        try await client.query("VACUUM ANALYZE", logger: logger)
        let elapsed = clock.now - started
        print("   VACUUM ANALYZE took \(format(elapsed.seconds)) s")
        return elapsed
    }

    /// Seals every event with a key of the bench's own; returns how long `placementctl seal` took.
    func sealNow() throws -> Duration {
        let keys = workDirectory + "/seal-keys"
        if !FileManager.default.fileExists(atPath: keys) {
            _ = try runChecked([binaries + "/placementctl", "seal-keys", "create", "--seal-keys", keys] + daemonArguments)
        }
        let started = ContinuousClock.now
        _ = try runChecked([binaries + "/placementctl", "seal", "--seal-keys", keys] + daemonArguments)
        return ContinuousClock.now - started
    }

    // MARK: Proofs

    /// `GET /v1/placements/{p}/{s}/proof` for sealed placements spread over the log, one client.
    func proofs(load: HTTPLoad, options: PlacementBench, total: Int64) async throws -> ResultRow {
        var placements: [(String, String)] = []
        for try await (posting, student) in try await client.query(
            """
            SELECT posting_id, data->>'student_id' FROM events
            WHERE type = 'selected' AND position <= (SELECT max(upto_position) FROM seals WHERE format = 2)
            ORDER BY hashtext(id::text) LIMIT 500
            """, logger: logger
        ).decode((String, String).self) { placements.append((posting, student)) }
        guard !placements.isEmpty else { throw LoadError("no sealed placement to prove") }
        let admin = keys[.admin]!
        let counter = Shared(0)
        let result = try await load.closedLoop(
            clients: 1, duration: options.phase,
            next: { [placements] _ in
                let n = counter.withLock { c -> Int in
                    c += 1
                    return c
                }
                let (posting, student) = placements[n % placements.count]
                var request = LoadRequest(path: "/v1/placements/\(posting)/\(student)/proof")
                request.authorization = admin
                return request
            },
            onSuccess: { _, _, _ in })
        try check(result, "proofs")
        return ResultRow(
            workload: "placement proof at \(total) events", unit: "ms p99", ours: result.percentileMilliseconds(99), raw: nil, bar: .atMost(50),
            details: [("p50", "\(format(result.percentileMilliseconds(50))) ms"), ("placements", String(placements.count))])
    }

    /// `clients` closed loops over `routes` in turn (each client starting at its own), and each
    /// route's p99 as result details.
    func routeLoop(
        load: HTTPLoad, clients: Int, duration: Duration, routes: [(name: String, key: String, path: @Sendable (Int) -> String)]
    ) async throws -> (LoadResult, [(String, String)]) {
        let counters = Shared([Int](repeating: 0, count: clients))
        let perRoute = Shared([String: Histogram<UInt64>]())
        let clock = ContinuousClock()
        let result = try await load.closedLoop(
            clients: clients, duration: duration,
            next: { client in
                let n = counters.withLock { c -> Int in
                    c[client] += 1
                    return c[client]
                }
                let route = routes[(n + client) % routes.count]
                var request = LoadRequest(path: route.path(n))
                request.authorization = route.key
                request.label = route.name
                request.started = clock.now
                return request
            },
            onSuccess: { request, _, at in
                guard let label = request.label, let started = request.started else { return }
                perRoute.withLock {
                    _ = $0[label, default: Histogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)].record(
                        UInt64((at - started).seconds * 1e6))
                }
            })
        let details = perRoute.value.sorted(by: { $0.key < $1.key }).map { name, histogram in
            ("\(name) p99", "\(format(Double(histogram.valueAtPercentile(99)) / 1000)) ms")
        }
        return (result, details)
    }

    // MARK: Reports of the ledger's history

    /// The routes that read the `history` projection: a company's statement of a month and aging,
    /// and every report as of a recorded time (that of the event halfway through the log, so half
    /// the history counts), one client. Then, on their own, the statement of the company's whole
    /// history (every line it ever had: an export's size, not a dashboard's, so reported beside
    /// the bar).
    func history(load: HTTPLoad, options: PlacementBench, total: Int64) async throws -> [ResultRow] {
        let asOf = Timestamp(
            microseconds: try await scalar(
                """
                SELECT (extract(epoch FROM recorded_at) * 1000000)::int8 FROM events
                WHERE position >= (SELECT (min(position) + max(position)) / 2 FROM events) ORDER BY position LIMIT 1
                """)
        ).rfc3339
        let lines = try await scalar("SELECT count(*) FROM proj_history.lines WHERE company_id = '\(Bench.company)'")
        let university = keys[.university]!, company = keys[.company]!, admin = keys[.admin]!
        let statement = "/v1/reports/companies/\(Bench.company)/statement"
        let month = "from=2025-06-01T00:00:00Z&to=2025-07-01T00:00:00Z"
        let routes: [(name: String, key: String, path: String)] = [
            ("statement, one month", company, "\(statement)?\(month)"),
            ("statement, one month, as_of", company, "\(statement)?\(month)&as_of=\(asOf)"),
            ("aging", company, "/v1/reports/companies/\(Bench.company)/aging"),
            ("aging as_of", company, "/v1/reports/companies/\(Bench.company)/aging?as_of=\(asOf)"),
            ("stipends as_of", company, "/v1/reports/companies/\(Bench.company)/stipends?as_of=\(asOf)"),
            ("university report as_of", university, "/v1/reports/universities/\(Bench.university)?as_of=\(asOf)"),
            ("payouts as_of, one company, one month", admin, "/v1/reports/payouts?company_id=\(Bench.company)&\(month)&as_of=\(asOf)"),
        ]
        let (result, perRoute) = try await routeLoop(
            load: load, clients: 1, duration: options.phase, routes: routes.map { route in (route.name, route.key, { _ in route.path }) })
        try check(result, "history")
        let details: [(String, String)] = [("p50", "\(format(result.percentileMilliseconds(50))) ms"), ("as_of", asOf), ("\(Bench.company)'s lines", String(lines))] + perRoute
        let whole = try await load.closedLoop(
            clients: 1, duration: options.phase,
            next: { _ in
                var request = LoadRequest(path: statement)
                request.authorization = company
                return request
            },
            onSuccess: { _, _, _ in })
        try check(whole, "history, whole statement")
        return [
            ResultRow(
                workload: "reports of the ledger's history (statement, aging, as_of) at \(total) events", unit: "ms p99",
                ours: result.percentileMilliseconds(99), raw: nil, bar: .atMost(20), details: details),
            ResultRow(
                workload: "statement of \(Bench.company)'s whole history (\(lines) lines) at \(total) events", unit: "ms p99",
                ours: whole.percentileMilliseconds(99), raw: nil, bar: .none,
                details: [("p50", "\(format(whole.percentileMilliseconds(50))) ms")]),
        ]
    }

    // MARK: Queries

    func queries(load: HTTPLoad, clients: Int, options: PlacementBench, total: Int64) async throws -> ResultRow {
        // Real ids to ask for: postings and placements of the scoped organisations.
        var postings: [String] = []
        for try await id in try await client.query(
            "SELECT posting_id FROM streams WHERE company_id = \(Bench.company) ORDER BY posting_id LIMIT 200", logger: logger
        ).decode(String.self) { postings.append(id) }
        guard !postings.isEmpty else { throw LoadError("no posting of \(Bench.company) to query") }
        let university = keys[.university]!, company = keys[.company]!, admin = keys[.admin]!
        let routes: [(name: String, key: String, path: @Sendable (Int) -> String)] = [
            ("placements list (university)", university, { _ in "/v1/placements?limit=50" }),
            ("placements list (company, status filter)", company, { _ in "/v1/placements?limit=50&status=accepted" }),
            ("university report", university, { _ in "/v1/reports/universities/\(Bench.university)" }),
            ("company stipends", company, { _ in "/v1/reports/companies/\(Bench.company)/stipends" }),
            ("posting", company, { [postings] i in "/v1/postings/\(postings[i % postings.count])" }),
            ("projections", admin, { _ in "/v1/projections" }),
        ]
        let (result, perRoute) = try await routeLoop(load: load, clients: clients, duration: options.phase, routes: routes)
        try check(result, "queries")
        let details: [(String, String)] =
            [("p50", "\(format(result.percentileMilliseconds(50))) ms"), ("requests/s", format(Double(result.requests) / result.elapsed.seconds))]
            + perRoute
        return ResultRow(
            workload: "dashboard and list queries at \(total) events, \(clients) client\(clients == 1 ? "" : "s")", unit: "ms p99", ours: result.percentileMilliseconds(99), raw: nil,
            bar: .atMost(20), details: details)
    }
}
