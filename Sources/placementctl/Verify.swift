import ArgumentParser
import LedgerCore
import LedgerProjections
import LedgerStore

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-hash every stored event and check chains and seals; exit 1 naming the first bad position.",
        discussion: """
            Detects modified, deleted, inserted, reordered and truncated events. With --digest, proves that the \
            ledger up to the seal with that digest (as printed by `digest` and kept by an auditor) is unchanged. \
            With --deep, also folds every stream again with the rules (an event that breaks them, even with a valid \
            hash), compares every stored stream head and state with that fold, and the postings, placements, payments, \
            report summary and history (statement lines, recorded changes of the report figures) \
            read models with rows derived from it. Read-only, in one snapshot: the daemon may keep serving.
            """)

    @OptionGroup var ledger: LedgerOptions

    @Option(help: ArgumentHelp("A seal digest (hex) published earlier.", valueName: "hex"))
    var digest: String?

    @Flag(help: "Also re-check every event against the rules, every stream head against its events, and the read models against a replay.")
    var deep = false

    func run() async throws {
        var target: [UInt8]?
        if let digest {
            guard let bytes = Hex.decode(digest), bytes.count == 32 else {
                throw ValidationError("--digest must be 64 hex digits, as printed by `placementctl digest`")
            }
            target = bytes
        }
        let wanted = target
        let deep = deep
        let (report, deepReport) = try await ledger.withStore(migrate: false) { _, store in
            let report = try await Integrity(client: store.client, logger: store.logger).verify(digest: wanted) { n in
                Terminal.progress("verified \(n) events")
            }
            Terminal.endProgress()
            guard deep else { return (report, DeepVerify.Report?.none) }
            let deepReport = try await DeepVerify(client: store.client, logger: store.logger).run { n in
                Terminal.progress("re-decided \(n) events with the rules")
            }
            Terminal.endProgress()
            return (report, deepReport)
        }
        if let first = report.firstProblem {
            print("FAILED: first bad position \(first.position): \(first.message)")
            for problem in report.problems.dropFirst().prefix(20) { print("  also \(problem)") }
            if report.problems.count > 21 { print("  … and \(report.problems.count - 21) more") }
            throw Failure(code: 1, message: "the ledger does not verify: first bad position \(first.position)")
        }
        if let deepReport {
            if let first = deepReport.problems.first {
                print("FAILED (deep): \(first)")
                for problem in deepReport.problems.dropFirst().prefix(20) { print("  also \(problem)") }
                if deepReport.problems.count > 21 { print("  … and \(deepReport.problems.count - 21) more") }
                throw Failure(code: 1, message: "the ledger does not verify deeply: \(first)")
            }
            if deepReport.readModelsBuilt {
                print(
                    "OK (deep): \(deepReport.eventsChecked) events decided again with the rules, \(deepReport.streamsChecked) stream heads and \(deepReport.rowsChecked) read-model rows match the fold")
            } else {
                print(
                    "OK (deep): \(deepReport.eventsChecked) events decided again with the rules, \(deepReport.streamsChecked) stream heads match the fold; "
                        + "the read models are not built yet (start the daemon or run `placementctl replay --all`), so none were compared")
            }
        }
        if let seal = report.targetSeal {
            print("OK: the ledger up to position \(seal.uptoPosition) matches seal #\(seal.sequence) (\(seal.eventCount) events in that seal); \(report.eventsChecked) events checked")
        } else {
            print("OK: \(report.eventsChecked) events in \(report.streamsChecked) streams, \(report.sealsChecked) seals verified (last position \(report.lastPosition))")
        }
    }
}

struct SealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal every event not yet sealed (up to the gap-free horizon) with a signed Merkle seal and print its digest.")

    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var keys: SealKeyOptions

    func run() async throws {
        let keyring = try keys.keyring(ledger)
        let (seal, latest) = try await ledger.withStore { _, store in
            let integrity = Integrity(client: store.client, logger: store.logger)
            let signer: SealSigningKey
            do { signer = try await integrity.signer(from: keyring) } catch let error as SealKeyError { throw Failure(code: 2, message: error.message) }
            let seal = try await integrity.seal(signer: signer)
            return (seal, seal == nil ? try await integrity.latestSeal() : nil)
        }
        if let seal {
            print(Hex.encode(seal.digest))
            Terminal.note("seal #\(seal.sequence) covers \(seal.eventCount) new events up to position \(seal.uptoPosition)")
        } else if let latest {
            print(Hex.encode(latest.digest))
            Terminal.note("nothing new to seal; seal #\(latest.sequence) already covers up to position \(latest.uptoPosition)")
        } else {
            throw Failure(code: 1, message: "nothing to seal: the ledger has no events yet")
        }
    }
}

struct Digest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the latest seal's digest (publish it; `verify --digest` proves nothing up to it changed).")

    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        let latest = try await ledger.withStore(migrate: false) { _, store in
            try await Integrity(client: store.client, logger: store.logger).latestSeal()
        }
        guard let latest else { throw Failure(code: 1, message: "no seal yet: run `placementctl seal` first") }
        print(Hex.encode(latest.digest))
        Terminal.note("seal #\(latest.sequence), events up to position \(latest.uptoPosition)")
    }
}
