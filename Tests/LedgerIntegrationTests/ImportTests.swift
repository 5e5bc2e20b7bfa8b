import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Import and demo")
struct ImportTests {
    /// Writes lines to a temporary file and returns an open descriptor for it.
    static func file(_ lines: [String]) throws -> Int32 {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).ndjson").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let fd = open(path, O_RDONLY)
        unlink(path)
        return fd
    }

    @Test("a bad line stops the import with its line number; the lines before it stay; a re-run completes it")
    func badLineThenResume() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 6, seed: 7))
            var lines = events.map(\.json.canonicalString)
            let badLine = 40
            let original = lines[badLine - 1]
            lines[badLine - 1] = original.replacingOccurrences(of: "\"posting_id\":\"", with: "\"posting_id\":\"-")
            let fd = try Self.file(lines)
            defer { close(fd) }
            let report = try await Importer(store: ledger.store, chunkSize: 16).run(NDJSONLines(fileDescriptor: fd))
            let failure = try #require(report.failure)
            #expect(failure.line == badLine)
            #expect(failure.error.code == .invalidField)
            #expect(failure.error.field == "posting_id")
            #expect(report.progress.imported == badLine - 1)
            #expect(try await ledger.count() == Int64(badLine - 1))
            #expect(try await ledger.integrity.verify().ok)

            lines[badLine - 1] = original
            let again = try Self.file(lines)
            defer { close(again) }
            let second = try await Importer(store: ledger.store, chunkSize: 16).run(NDJSONLines(fileDescriptor: again))
            #expect(second.failure == nil)
            #expect(second.progress.skipped == badLine - 1)
            #expect(second.progress.imported == events.count - badLine + 1)
            #expect(try await ledger.count() == Int64(events.count))
        }
    }

    @Test("an export feeds straight back into import: the same events in the same order; re-run, all skipped; a gap or a reordering is refused at its line")
    func exportThenImport() async throws {
        try await TestLedger.with { source in
            let history = Array(DemoHistory(postings: 8, seed: 11))
            let loaded = try await Importer(store: source.store, chunkSize: 50).run(history.enumerated().map { ($0.offset + 1, .success($0.element)) })
            #expect(loaded.failure == nil)
            let exported = try await source.feed(after: 0, count: history.count)
            #expect(exported.count == history.count)
            // What `placementctl export` writes: each recorded event with its assigned fields.
            let lines = exported.map(\.json.canonicalString)
            try await TestLedger.with { target in
                let fd = try Self.file(lines)
                defer { close(fd) }
                let report = try await Importer(store: target.store, chunkSize: 64).run(NDJSONLines(fileDescriptor: fd))
                #expect(report.failure == nil, "\(String(describing: report.failure))")
                #expect(report.progress.imported == history.count)
                let imported = try await target.feed(after: 0, count: history.count)
                #expect(imported.map(\.event.json) == exported.map(\.event.json))
                #expect(imported.map(\.version) == exported.map(\.version))
                #expect(try await target.integrity.verify().ok)

                let again = try Self.file(lines)
                defer { close(again) }
                let rerun = try await Importer(store: target.store, chunkSize: 64).run(NDJSONLines(fileDescriptor: again))
                #expect(rerun.failure == nil)
                #expect(rerun.progress.skipped == history.count)
                #expect(rerun.progress.imported == 0)
            }

            // A line dropped from the middle of a posting's stream: refused where the gap shows.
            let posting = exported[0].event.postingID
            let ofPosting = exported.indices.filter { exported[$0].event.postingID == posting }
            let dropped = ofPosting[1]
            var gapped = lines
            gapped.remove(at: dropped)
            let nextOfPosting = ofPosting[2] - 1  // its index once the line before it is gone
            try await TestLedger.with { [gapped] target in
                let fd = try Self.file(gapped)
                defer { close(fd) }
                let report = try await Importer(store: target.store, chunkSize: 64).run(NDJSONLines(fileDescriptor: fd))
                let failure = try #require(report.failure)
                #expect(failure.line == nextOfPosting + 1)
                #expect(failure.error.field == "version")
                #expect(report.progress.imported == nextOfPosting)
            }

            // The last event of the first posting swapped with the first of the next: refused at the
            // second of the two lines, whose position goes back.
            let boundary = ofPosting.last!
            var swapped = lines
            swapped.swapAt(boundary, boundary + 1)
            try await TestLedger.with { [swapped] target in
                let fd = try Self.file(swapped)
                defer { close(fd) }
                let report = try await Importer(store: target.store, chunkSize: 64).run(NDJSONLines(fileDescriptor: fd))
                let failure = try #require(report.failure)
                #expect(failure.line == boundary + 2)
                #expect(failure.error.field == "position")
            }

            // An assigned field alone, or malformed, is refused like any bad field.
            var e = Events("p-x")
            var posted = e.posted().json
            if case .object(var m) = posted { m["version"] = .int(1); posted = .object(m) }
            let line = posted.canonicalString
            try await TestLedger.with { target in
                let fd = try Self.file([line])
                defer { close(fd) }
                let report = try await Importer(store: target.store).run(NDJSONLines(fileDescriptor: fd))
                #expect(report.failure?.error.field == "position")
                #expect(try await target.count() == 0)
            }
        }
    }

    @Test("a line that breaks a rule is reported with its line number and rule")
    func ruleBrokenMidChunk() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            var lines = [e.posted(), e.applied("s-1"), e.selected("s-1")].map(\.json.canonicalString)
            lines.insert(e.selected("s-9").json.canonicalString, at: 2)  // line 3: never applied
            lines.insert("", at: 1)  // blank lines are skipped but counted
            let fd = try Self.file(lines)
            defer { close(fd) }
            let report = try await Importer(store: ledger.store).run(NDJSONLines(fileDescriptor: fd))
            #expect(report.failure?.line == 4)
            #expect(report.failure?.error.code == .notApplied)
            #expect(try await ledger.count() == 2)
        }
    }

    @Test("invalid JSON on a line is reported as invalid_json with the line number")
    func invalidJSONLine() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            let fd = try Self.file([e.posted().json.canonicalString, "{\"id\": ", e.applied("s-1").json.canonicalString])
            defer { close(fd) }
            let report = try await Importer(store: ledger.store).run(NDJSONLines(fileDescriptor: fd))
            #expect(report.failure?.line == 2)
            #expect(report.failure?.error.code == .invalidJSON)
            #expect(try await ledger.count() == 1)
        }
    }

    @Test("demo history appends through the rules, verifies, and a second run appends nothing")
    func demoAppendsAndVerifies() async throws {
        try await TestLedger.with { ledger in
            let history = DemoHistory(postings: 40, seed: 3)
            let items = history.enumerated().map { ($0.offset + 1, Result<Event, LedgerError>.success($0.element)) }
            let first = try await Importer(store: ledger.store, chunkSize: 100).run(items)
            #expect(first.failure == nil)
            #expect(first.progress.imported == items.count)
            let second = try await Importer(store: ledger.store, chunkSize: 100).run(items)
            #expect(second.progress.imported == 0)
            #expect(second.progress.skipped == items.count)
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems)")
            #expect(report.eventsChecked == Int64(items.count))
            #expect(report.streamsChecked == 40)
        }
    }
}
