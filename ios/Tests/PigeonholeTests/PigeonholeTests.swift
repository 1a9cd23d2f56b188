// The same scenarios as the Kotlin (bindings/kotlin/test) and Python
// (bindings/python/tests) suites, as a Swift app meets the bindings: real
// nodes on 127.0.0.1, real SQLite files in temporary directories.
// Run on a Mac: ./build-xcframework.sh && swift test
import Foundation
import XCTest
@testable import Pigeonhole

/// Generous: the machine running the tests may be busy.
let waitMs: UInt64 = 60_000

/// A listener that hands each event to an AsyncStream.
final class StreamOfEvents: EventListener, @unchecked Sendable {
    let stream: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private var iterator: AsyncStream<Event>.Iterator

    init() {
        var continuation: AsyncStream<Event>.Continuation!
        stream = AsyncStream { continuation = $0 }
        self.continuation = continuation
        iterator = stream.makeAsyncIterator()
    }

    func onEvent(event: Event) { continuation.yield(event) }

    func next() async throws -> Event {
        try await withTimeout { await self.iterator.next() }
    }
}

struct TimedOut: Error {}

func withTimeout<T: Sendable>(_ body: @escaping @Sendable () async -> T?) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: waitMs * 1_000_000)
            return nil
        }
        guard let value = try await group.next() ?? nil else {
            throw TimedOut()
        }
        group.cancelAll()
        return value
    }
}

func loopback(_ dir: URL, bootstrap: [String] = [], port: Int = 0) -> NodeOptions {
    NodeOptions(
        dataDir: dir.path,
        listenAddresses: ["/ip4/127.0.0.1/tcp/\(port)"],
        mdns: false,
        bootstrapPeers: bootstrap,
        syncIntervalSecs: 0
    )
}

func port(_ address: String) -> Int {
    Int(address.components(separatedBy: "/tcp/")[1].components(separatedBy: "/")[0])!
}

final class PigeonholeTests: XCTestCase {
    var dirs: [URL] = []

    func tempDir() -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("pigeonhole-swift-\(UUID().uuidString)")
        dirs.append(dir)
        return dir
    }

    override func tearDown() {
        dirs.forEach { try? FileManager.default.removeItem(at: $0) }
    }

    func twoNodes() async throws -> (PigeonholeNode, PigeonholeNode) {
        let a = try await PigeonholeNode.start(options: loopback(tempDir()))
        let b = try await PigeonholeNode.start(
            options: loopback(tempDir(), bootstrap: a.status().listenAddresses))
        let bPeers = try await b.waitForPeers(peers: 1, timeoutMs: waitMs).routingPeers
        XCTAssertGreaterThanOrEqual(bPeers, 1)
        let aPeers = try await a.waitForPeers(peers: 1, timeoutMs: waitMs).routingPeers
        XCTAssertGreaterThanOrEqual(aPeers, 1)
        return (a, b)
    }

    func testTwoNodesOnLoopbackSeeEachOther() async throws {
        let (a, b) = try await twoNodes()
        XCTAssertEqual(a.publicKey().count, 64)
        XCTAssertNotEqual(a.publicKey(), b.publicKey())
        XCTAssertTrue(a.status().listenAddresses[0].hasPrefix("/ip4/127.0.0.1/tcp/"))
        try await a.ping()
    }

    func testRequestAcceptLifecycleDeliversEachEvent() async throws {
        let (alice, bob) = try await twoNodes()
        try await alice.setProfile(displayName: "Alice")
        try await bob.setProfile(displayName: "Bob", directoryName: "bob")
        let bobEvents = StreamOfEvents()
        let bobSubscription = try bob.addListener(listener: bobEvents)
        let aliceEvents = StreamOfEvents()
        let aliceSubscription = try alice.addListener(listener: aliceEvents)

        let email = ContactDetail(kind: .email, value: "alice@example.org")
        let sent = try await alice.sendRequest(
            contactCode: try await bob.contactCode(), message: "hi Bob", contacts: [email])
        XCTAssertEqual(sent.to, bob.publicKey())
        XCTAssertEqual(sent.status, .pending)

        let bobReceived = try await bob.syncNow().requestsReceived
        XCTAssertEqual(bobReceived, 1)
        let received = try await bobEvents.next()
        XCTAssertEqual(received, .requestReceived(requestId: sent.id, from: alice.publicKey(), displayName: "Alice"))
        let pending = try await bob.pendingRequests()
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending[0].contacts, [email])

        let buddy = try await bob.accept(requestId: pending[0].id)
        XCTAssertEqual(buddy.publicKey, alice.publicKey())
        let bobAdded = try await bobEvents.next()
        XCTAssertEqual(bobAdded, .buddyAdded(publicKey: alice.publicKey(), displayName: "Alice"))
        do {
            _ = try await bob.accept(requestId: pending[0].id)
            XCTFail("accepted twice")
        } catch PigeonholeError.UnknownRequest {}

        let aliceAnswers = try await alice.syncNow().answersReceived
        XCTAssertEqual(aliceAnswers, 1)
        let answered = try await aliceEvents.next()
        XCTAssertEqual(answered, .requestAnswered(requestId: sent.id, by: bob.publicKey(), accepted: true))
        let aliceAdded = try await aliceEvents.next()
        XCTAssertEqual(aliceAdded, .buddyAdded(publicKey: bob.publicKey(), displayName: "Bob"))
        let aliceBuddies = try await alice.buddies().map(\.publicKey)
        XCTAssertEqual(aliceBuddies, [bob.publicKey()])
        bobSubscription.cancel()
        aliceSubscription.cancel()
        XCTAssertTrue(bobSubscription.isCancelled())
    }

    func testEventsAsyncStreamDeliversAndStopsOnCancel() async throws {
        let (alice, bob) = try await twoNodes()
        try await alice.setProfile(displayName: "Alice")
        // AsyncStream runs its build closure at once: the listener is
        // registered when events() returns.
        let stream = bob.events()
        let consumer = Task { () -> Event? in
            for await event in stream { return event }
            return nil
        }
        _ = try await alice.sendRequest(contactCode: try await bob.contactCode())
        _ = try await bob.syncNow()
        let event = try await withTimeout { await consumer.value }
        guard case .requestReceived(_, let from, _) = event else {
            return XCTFail("unexpected \(event)")
        }
        XCTAssertEqual(from, alice.publicKey())
    }

    func testBadInputRaisesTheDocumentedKinds() async throws {
        let node = try await PigeonholeNode.start(options: loopback(tempDir()))
        try await node.setProfile(displayName: "Carol")
        do {
            _ = try await node.sendRequest(contactCode: "PH-NOT-A-CODE")
            XCTFail("a bad code was accepted")
        } catch let PigeonholeError.BadContactCode(reason) {
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertThrowsError(try contactCodeQr(contactCode: "hello"))
        do {
            _ = try await node.sendRequest(contactCode: try await node.contactCode())
            XCTFail("own code accepted")
        } catch PigeonholeError.OwnCode {}
        do {
            _ = try await node.accept(requestId: "not hex")
            XCTFail("bad id accepted")
        } catch PigeonholeError.InvalidInput {}
        let qr = try contactCodeQr(contactCode: try await node.contactCode())
        XCTAssertEqual(qr.modules.count, Int(qr.size * qr.size))
    }

    func testStopAndRestartKeepTheIdentity() async throws {
        let dir = tempDir()
        let node = try await PigeonholeNode.start(options: loopback(dir))
        let key = node.publicKey()
        let code = try await node.contactCode()
        try await node.stop()
        XCTAssertTrue(node.isStopped())
        do {
            _ = try await node.contactCode()
            XCTFail("a stopped node answered")
        } catch PigeonholeError.Stopped {}
        let again = try await PigeonholeNode.start(options: loopback(dir))
        XCTAssertEqual(again.publicKey(), key)
        let codeAgain = try await again.contactCode()
        XCTAssertEqual(codeAgain, code)
    }

    func testDroppingTheNodeReleasesItsPort() async throws {
        let dir = tempDir()
        var node: PigeonholeNode? = try await PigeonholeNode.start(options: loopback(dir))
        let bound = port(node!.status().listenAddresses[0])
        node = nil // deinit stops the node and waits until its port is free
        let again = try await PigeonholeNode.start(options: loopback(dir, port: bound))
        XCTAssertEqual(port(again.status().listenAddresses[0]), bound)
    }
}
