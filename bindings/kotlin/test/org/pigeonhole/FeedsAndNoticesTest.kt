// Feeds and document notices as a Kotlin app meets them: two real nodes on
// 127.0.0.1, real SQLite files, the generated Kotlin over JNA, events
// through the listener. Run by scripts/test-bindings.
package org.pigeonhole

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertFailsWith

class FeedsAndNoticesTest {
    private val dirs = mutableListOf<File>()

    private fun tempDir(): String =
        Files.createTempDirectory("pigeonhole-kt").toFile().also { dirs += it }.absolutePath

    @AfterEach
    fun removeDirs() {
        dirs.forEach { it.deleteRecursively() }
    }

    @Test
    fun aFeedPostIsFollowedReadEditedAndDeleted() = runBlocking {
        val (alice, bob) = twoNodes(tempDir(), tempDir())
        alice.use {
            bob.use {
                val bobEvents = Channel<Event>(Channel.UNLIMITED)
                val subscription = bob.addListener(ChannelListener(bobEvents))
                val feed = alice.ownFeed("news")
                assertTrue(feed.startsWith("PHF-"), feed)
                assertFailsWith<PigeonholeException.NotFollowed> { runBlocking { bob.fetchFeed(feed) } }
                assertFailsWith<PigeonholeException.BadFeedReference> { runBlocking { bob.followFeed("PHF-NOPE") } }

                val first = alice.postToFeed("news", "Hello", "https://example.org/1", "the first post")
                assertEquals(feed, first.feed)
                assertEquals(1uL, first.number)
                assertTrue(bob.followFeed(feed))
                assertFalse(bob.followFeed(feed))

                val update = bob.fetchFeed(feed)
                val read = update.posts.single()
                assertEquals(first.id, read.id)
                assertEquals(alice.publicKey(), read.author)
                assertEquals("Hello", read.title)
                assertEquals("https://example.org/1", read.link)
                assertEquals("the first post", read.summary)
                assertEquals(0uL, update.missed)
                assertEquals(Event.FeedPostAdded(read), bobEvents.next())
                assertEquals(listOf(read), bob.feedPosts(feed))
                assertTrue(bob.feedRss(feed).contains("<title>Hello</title>"))
                val followed = bob.followedFeeds().single()
                assertEquals(FollowedFeed(feed, alice.publicKey(), "news", 1uL, 0uL), followed)
                assertTrue(bob.fetchFeed(feed).posts.isEmpty(), "each post is delivered once")

                // Only the author edits; an edit keeps the guid and names what it replaces.
                assertFailsWith<PigeonholeException.NotPermitted> { runBlocking { bob.editPost(first.id, "Mine") } }
                val edited = alice.editPost(first.id, "Hello again", summary = "edited")
                assertEquals(first.id, edited.replaces)
                assertEquals(first.guid, edited.guid)
                assertEquals(edited.id, bob.fetchFeed(feed).posts.single().id)
                val editEvent = bobEvents.next() as Event.FeedPostEdited
                assertEquals(edited.id, editEvent.post.id)
                assertEquals(first.id, editEvent.post.replaces)
                assertEquals(listOf("Hello again"), bob.feedPosts(feed).map { it.title })

                alice.deletePost(edited.id)
                assertFailsWith<PigeonholeException.UnknownPost> { runBlocking { alice.deletePost(edited.id) } }
                assertEquals(listOf(edited.id), bob.fetchFeed(feed).deleted)
                assertEquals(Event.FeedPostDeleted(feed, edited.id), bobEvents.next())
                assertTrue(bob.feedPosts(feed).isEmpty())

                assertTrue(bob.unfollowFeed(feed))
                assertTrue(bob.followedFeeds().isEmpty())
                subscription.cancel()
            }
        }
    }

    @Test
    fun aDocumentNoticeIsWatchedAndReadWithItsInlineContent() = runBlocking {
        val (alice, bob) = twoNodes(tempDir(), tempDir())
        alice.use {
            bob.use {
                val bobEvents = Channel<Event>(Channel.UNLIMITED)
                val subscription = bob.addListener(ChannelListener(bobEvents))
                val doc = alice.ownDocument("plan")
                assertEquals(DocumentRef(alice.publicKey(), "plan"), doc)
                val other = DocumentRef(alice.publicKey(), "other")
                assertFailsWith<PigeonholeException.NotWatched> { runBlocking { bob.fetchDocumentUpdates(other) } }
                assertTrue(bob.watchDocument(doc))
                assertFalse(bob.watchDocument(doc))

                val v1 = "the plan, version 1".toByteArray()
                val v1Id = alice.notifyDocumentUpdate(doc, 1uL, DocumentContent.Carry(v1), "first draft")
                assertEquals(64, v1Id.length)
                // Version 2 is never published: the watcher is told of the gap.
                alice.notifyDocumentUpdate(doc, 3uL, DocumentContent.Carry("v3".toByteArray()))
                assertFailsWith<PigeonholeException.NotPermitted> {
                    runBlocking { bob.notifyDocumentUpdate(doc, 4uL, DocumentContent.Carry(v1)) }
                }

                val updates = bob.fetchDocumentUpdates(doc)
                assertEquals(listOf(1uL, 3uL), updates.notices.map { it.version })
                assertEquals(listOf(VersionGap(2uL, 2uL)), updates.gaps)
                assertTrue(updates.conflicts.isEmpty())
                val notice = updates.notices.first()
                assertEquals(v1Id, notice.id)
                assertEquals(doc, notice.doc)
                assertEquals(alice.publicKey(), notice.sender)
                assertEquals("first draft", notice.changeSummary)
                assertEquals(v1.size.toULong(), notice.size)
                assertContentEquals(v1, notice.inlineContent)
                assertNull(notice.chainHead)
                assertContentEquals(v1, bob.documentContent(notice))

                // Events: the gap, then each version in order.
                assertEquals(Event.DocumentGap(doc, 2uL, 2uL), bobEvents.next())
                val firstEvent = bobEvents.next() as Event.DocumentUpdated
                assertEquals(v1Id, firstEvent.notice.id)
                assertContentEquals(v1, firstEvent.notice.inlineContent)
                assertEquals(3uL, (bobEvents.next() as Event.DocumentUpdated).notice.version)

                assertEquals(listOf(WatchedDocument(doc, 3uL)), bob.watchedDocuments())
                assertTrue(bob.fetchDocumentUpdates(doc).notices.isEmpty())
                assertTrue(bob.unwatchDocument(doc))
                subscription.cancel()
            }
        }
    }
}
