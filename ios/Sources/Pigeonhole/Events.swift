// Hand-written Swift shipped with the generated bindings: what iOS
// developers reach for on top of the listener (an AsyncStream of events).
// Swift cannot be compiled on the Linux machine that builds the bindings:
// this file is checked by the XCTest suite on a Mac (see ios/README.md).

import Foundation

/// Feeds a listener's events into an `AsyncStream` continuation.
private final class StreamListener: EventListener, @unchecked Sendable {
    private let continuation: AsyncStream<Event>.Continuation

    init(_ continuation: AsyncStream<Event>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: Event) {
        continuation.yield(event)
    }
}

extension PigeonholeNode {
    /// This node's events as an `AsyncStream`. Each call registers its own
    /// listener; it is cancelled when the stream is terminated (the consuming
    /// task is cancelled or the `for await` loop is left).
    ///
    /// ```swift
    /// for await event in node.events() {
    ///     if case let .requestReceived(_, _, displayName) = event {
    ///         show(displayName)
    ///     }
    /// }
    /// ```
    public func events() -> AsyncStream<Event> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            do {
                let subscription = try self.addListener(listener: StreamListener(continuation))
                continuation.onTermination = { _ in subscription.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }
}
