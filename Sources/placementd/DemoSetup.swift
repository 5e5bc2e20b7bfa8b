import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging
import PostgresNIO

/// Demo mode: a demo history when the ledger is empty, one fresh key per role, and a banner with
/// the keys and curl lines that work when pasted.
enum DemoSetup {
    static func prepare(client: PostgresClient, postings: Int, baseURL: String, logger: Logger) async throws -> String {
        let store = EventStore(client: client, logger: logger, readModels: InlineProjections())
        let status = try await LedgerStatus.read(client, logger: logger)
        if status.events == 0 {
            let history = DemoHistory(postings: postings)
            let report = try await Importer(store: store).run(history.enumerated().lazy.map { ($0.offset + 1, .success($0.element)) })
            logger.info("demo mode: loaded demo history", metadata: ["ledger.events": "\(report.progress.imported)"])
        } else {
            logger.info("demo mode: the ledger already has events; keeping them", metadata: ["ledger.events": "\(status.events)"])
        }
        // Keys: earlier demo keys are revoked, so only the ones printed now work.
        let keys = KeyStore(client: client, logger: logger)
        for key in try await keys.list() where key.label == "demo" && key.revokedAt == nil {
            _ = try await keys.revoke(id: key.id)
        }
        let sample = try await samplePlacement(store: store)
        let platform = try await keys.create(role: .platform, orgID: nil, label: "demo").secret
        let company = try await keys.create(role: .company, orgID: sample.company, label: "demo").secret
        let university = try await keys.create(role: .university, orgID: sample.university, label: "demo").secret
        let admin = try await keys.create(role: .admin, orgID: nil, label: "demo").secret

        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970) * 1_000_000)
        let newPosting = "p-demo-\(UUID().uuidString.prefix(8).lowercased())"
        let event = Event(
            id: UUID().uuidString.lowercased(), postingID: newPosting, occurredAt: now, actor: "company:\(sample.company)",
            data: .posted(companyID: sample.company, title: "Demo project", openings: 1, stipend: .fixed(amountMinor: 25_000, currency: "USD")))
        return """

            Placement Ledger is serving on \(baseURL) (demo mode, embedded PostgreSQL)

            API keys (created now; earlier demo keys are revoked):
              platform              \(platform)
              company \(sample.company.padding(toLength: 13, withPad: " ", startingAt: 0)) \(company)
              university \(sample.university.padding(toLength: 10, withPad: " ", startingAt: 0)) \(university)
              admin                 \(admin)

            Try:
              curl -s \(baseURL)/healthz
              curl -s '\(baseURL)/v1/events?limit=2' -H 'Authorization: Bearer \(platform)'
              curl -s \(baseURL)/v1/postings/\(sample.posting) -H 'Authorization: Bearer \(university)'
              curl -s \(baseURL)/v1/postings/\(sample.posting)/events -H 'Authorization: Bearer \(company)'
              curl -s -X POST \(baseURL)/v1/events -H 'Authorization: Bearer \(company)' -H 'Content-Type: application/json' \\
                -d '\(event.json.canonicalString)'
            (Send the POST twice: the second answer is the original result, 200 instead of 201.)

            """
    }

    /// A posting of the demo history with a placement, to show in the examples.
    static func samplePlacement(store: EventStore) async throws -> (posting: String, company: String, university: String) {
        let events = try await store.feed(after: 0, limit: 200)
        var postingCompany: [String: String] = [:]
        for event in events {
            switch event.event.data {
            case .posted(let company, _, _, _): postingCompany[event.event.postingID] = company
            case .applied(_, let university):
                if let company = postingCompany[event.event.postingID] { return (event.event.postingID, company, university) }
            default: break
            }
        }
        return ("p-1000", "c-acme", "u-mit")
    }
}

/// One JSON object per log line (`--log-format json`).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        var fields: [String: JSON] = [
            "time": .string(Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000)).rfc3339),
            "level": .string(level.rawValue), "logger": .string(label), "message": .string(message.description),
        ]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = .string(value.description)
        }
        var bytes = JSON.object(fields).canonicalBytes
        bytes.append(0x0A)
        FileHandle.standardError.write(Data(bytes))
    }
}
