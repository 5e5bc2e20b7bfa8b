// swift-tools-version:6.1
// The floor: the least an HTTP append can be with this stack (see docs/performance.md, "The floor").
// A separate package, so the ledger's build does not carry it.
import PackageDescription

let package = Package(
    name: "placement-floor",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "floor-server",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // A reproduction of PostgresNIO 1.33.2 dropping a statement sent to a connection whose channel
        // has just closed (docs/postgresnio-lost-statement.md).
        .executableTarget(
            name: "lost-statement",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ]
)
