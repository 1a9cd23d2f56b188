// swift-tools-version:5.9
// The Pigeonhole Swift package: the uniffi-generated Swift (Sources/Pigeonhole)
// over PigeonholeFFI.xcframework, the Rust library built for devices and the
// simulator by build-xcframework.sh. Built and tested on a Mac with Xcode:
//   ./build-xcframework.sh && swift test   (or open Package.swift in Xcode)
import PackageDescription

let package = Package(
    name: "Pigeonhole",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Pigeonhole", targets: ["Pigeonhole"]),
    ],
    targets: [
        .binaryTarget(name: "PigeonholeFFI", path: "PigeonholeFFI.xcframework"),
        .target(
            name: "Pigeonhole",
            dependencies: ["PigeonholeFFI"],
            path: "Sources/Pigeonhole",
            linkerSettings: [.linkedFramework("SystemConfiguration")]
        ),
        .testTarget(
            name: "PigeonholeTests",
            dependencies: ["Pigeonhole"],
            path: "Tests/PigeonholeTests"
        ),
    ]
)
