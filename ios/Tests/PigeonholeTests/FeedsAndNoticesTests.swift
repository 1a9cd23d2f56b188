// Feeds and document notices, the same scenarios as the Kotlin
// (FeedsAndNoticesTest.kt) and Python (test_feeds_notices.py) suites: two
// real nodes on 127.0.0.1, events through the listener.
// Run on a Mac: ./build-xcframework.sh && swift test
import Foundation
import XCTest
@testable import Pigeonhole

extension PigeonholeTests {
    func testAFeedPostIsFollowedReadEditedAndDeleted() async throws {
        let (alice, bob) = try await twoNodes()
        let events = StreamOfEvents()
        let subscription = try bob.addListener(listener: events)
        let feed = try alice.ownFeed(name: "news")
        XCTAssertTrue(feed.hasPrefix("PHF-"))
        do {
            _ = try await bob.fetchFeed(feed: feed)
            XCTFail("fetched a feed not followed")
        } catch PigeonholeError.NotFollowed {}
        do {
            _ = try await bob.followFeed(feed: "PHF-NOPE")
            XCTFail("followed a bad reference")
        } catch PigeonholeError.BadFeedReference {}

        let first = try await alice.postToFeed(
            feedName: "news", title: "Hello", link: "https://example.org/1", summary: "the first post")
        XCTAssertEqual(first.feed, feed)
        XCTAssertEqual(first.number, 1)
        let followed = try await bob.followFeed(feed: feed)
        XCTAssertTrue(followed)

        let update = try await bob.fetchFeed(feed: feed)
        XCTAssertEqual(update.posts.count, 1)
        let read = update.posts[0]
        XCTAssertEqual(read.id, first.id)
        XCTAssertEqual(read.author, alice.publicKey())
        XCTAssertEqual(read.title, "Hello")
        XCTAssertEqual(read.link, "https://example.org/1")
        let added = try await events.next()
        XCTAssertEqual(added, .feedPostAdded(post: read))
        let posts = try await bob.feedPosts(feed: feed)
        XCTAssertEqual(posts, [read])
        let rss = try await bob.feedRss(feed: feed)
        XCTAssertTrue(rss.contains("<title>Hello</title>"))

        do {
            _ = try await bob.editPost(postId: first.id, title: "Mine")
            XCTFail("edited another author's post")
        } catch PigeonholeError.NotPermitted {}
        let edited = try await alice.editPost(postId: first.id, title: "Hello again", summary: "edited")
        XCTAssertEqual(edited.replaces, first.id)
        XCTAssertEqual(edited.guid, first.guid)
        let readEdit = try await bob.fetchFeed(feed: feed).posts
        XCTAssertEqual(readEdit.map(\.id), [edited.id])
        let editEvent = try await events.next()
        XCTAssertEqual(editEvent, .feedPostEdited(post: readEdit[0]))

        try await alice.deletePost(postId: edited.id)
        let deleted = try await bob.fetchFeed(feed: feed).deleted
        XCTAssertEqual(deleted, [edited.id])
        let deleteEvent = try await events.next()
        XCTAssertEqual(deleteEvent, .feedPostDeleted(feed: feed, postId: edited.id))
        let left = try await bob.feedPosts(feed: feed)
        XCTAssertTrue(left.isEmpty)
        subscription.cancel()
    }

    func testADocumentNoticeIsWatchedAndReadWithItsInlineContent() async throws {
        let (alice, bob) = try await twoNodes()
        let events = StreamOfEvents()
        let subscription = try bob.addListener(listener: events)
        let doc = try alice.ownDocument(name: "plan")
        XCTAssertEqual(doc, DocumentRef(owner: alice.publicKey(), name: "plan"))
        do {
            _ = try await bob.fetchDocumentUpdates(doc: doc)
            XCTFail("fetched a document not watched")
        } catch PigeonholeError.NotWatched {}
        let watched = try await bob.watchDocument(doc: doc)
        XCTAssertTrue(watched)

        let v1 = Data("the plan, version 1".utf8)
        let v1Id = try await alice.notifyDocumentUpdate(
            doc: doc, version: 1, content: .carry(data: v1), changeSummary: "first draft")
        // Version 2 is never published: the watcher is told of the gap.
        _ = try await alice.notifyDocumentUpdate(doc: doc, version: 3, content: .carry(data: Data("v3".utf8)))
        do {
            _ = try await bob.notifyDocumentUpdate(doc: doc, version: 4, content: .carry(data: v1))
            XCTFail("a non-editor notified an update")
        } catch PigeonholeError.NotPermitted {}

        let updates = try await bob.fetchDocumentUpdates(doc: doc)
        XCTAssertEqual(updates.notices.map(\.version), [1, 3])
        XCTAssertEqual(updates.gaps, [VersionGap(fromVersion: 2, toVersion: 2)])
        let notice = updates.notices[0]
        XCTAssertEqual(notice.id, v1Id)
        XCTAssertEqual(notice.sender, alice.publicKey())
        XCTAssertEqual(notice.changeSummary, "first draft")
        XCTAssertEqual(notice.inlineContent, v1)
        let content = try await bob.documentContent(notice: notice)
        XCTAssertEqual(content, v1)

        let gap = try await events.next()
        XCTAssertEqual(gap, .documentGap(doc: doc, fromVersion: 2, toVersion: 2))
        let updated = try await events.next()
        XCTAssertEqual(updated, .documentUpdated(notice: notice))
        let watching = try await bob.watchedDocuments()
        XCTAssertEqual(watching, [WatchedDocument(doc: doc, lastVersion: 3)])
        subscription.cancel()
    }
}
