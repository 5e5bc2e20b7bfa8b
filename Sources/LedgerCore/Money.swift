/// The normative money rules for one placement (posting × selected student).
public struct PlacementMoney: Sendable, Hashable {
    public var capMinor: Int64
    public var earnedMinor: Int64
    public var paidMinor: Int64
    public var balanceMinor: Int64 { earnedMinor - paidMinor }
    /// Settled: something was earned and nothing is owed either way.
    public var settled: Bool { earnedMinor > 0 && balanceMinor == 0 }

    public init(stipend: Stipend, minutesLogged: Int64, latestReviewAccepted: Bool?, paidMinor: Int64) {
        capMinor = stipend.capMinor
        earnedMinor = Self.earned(stipend: stipend, minutesLogged: minutesLogged, latestReviewAccepted: latestReviewAccepted)
        self.paidMinor = paidMinor
    }

    /// Fixed: the amount once the latest review accepted the work, else 0.
    /// Hourly: `round_half_up(rate × min(minutes, max_hours × 60) / 60)` on the total, in integers.
    public static func earned(stipend: Stipend, minutesLogged: Int64, latestReviewAccepted: Bool?) -> Int64 {
        switch stipend {
        case .fixed(let amount, _):
            return latestReviewAccepted == true ? amount : 0
        case .hourly(let rate, let maxHours, _):
            let billable = max(0, min(minutesLogged, maxHours * 60))
            return (rate * billable + 30) / 60
        }
    }
}

/// The status of a placement, as the contract names it.
public enum PlacementStatus: String, Sendable, CaseIterable, Codable {
    case inProgress = "in_progress"
    case delivered
    case revisionRequested = "revision_requested"
    case accepted
    case withdrawn

    public init(_ s: StudentState) {
        if s.withdrawn {
            self = .withdrawn
        } else if s.deliveryPending {
            self = .delivered
        } else if s.latestReviewAccepted == true {
            self = .accepted
        } else if s.latestReviewAccepted == false {
            self = .revisionRequested
        } else {
            self = .inProgress
        }
    }
}

extension StudentState {
    public func money(stipend: Stipend) -> PlacementMoney {
        PlacementMoney(stipend: stipend, minutesLogged: minutesLogged, latestReviewAccepted: latestReviewAccepted, paidMinor: paidMinor)
    }
}
