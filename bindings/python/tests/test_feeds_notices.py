"""Feeds and document notices as a Python program meets them: two real
nodes on 127.0.0.1, real SQLite files, events through the listener."""

import pytest

import pigeonhole as ph
from conftest import QueueListener, two_nodes


def test_a_feed_post_is_followed_read_edited_and_deleted(tmp_path, run):
    async def scenario():
        alice, bob = await two_nodes(tmp_path / "alice", tmp_path / "bob")
        events = QueueListener()
        subscription = bob.add_listener(events)
        feed = alice.own_feed("news")
        assert feed.startswith("PHF-")
        with pytest.raises(ph.PigeonholeError.NotFollowed):
            await bob.fetch_feed(feed)
        with pytest.raises(ph.PigeonholeError.BadFeedReference):
            await bob.follow_feed("PHF-NOPE")

        first = await alice.post_to_feed("news", "Hello", "https://example.org/1", "the first post")
        assert first.feed == feed and first.number == 1
        assert await bob.follow_feed(feed)
        assert not await bob.follow_feed(feed)

        update = await bob.fetch_feed(feed)
        [read] = update.posts
        assert read.id == first.id and read.author == alice.public_key()
        assert (read.title, read.link, read.summary) == (
            "Hello",
            "https://example.org/1",
            "the first post",
        )
        assert await events.next() == ph.Event.FEED_POST_ADDED(read)
        assert await bob.feed_posts(feed) == [read]
        assert "<title>Hello</title>" in await bob.feed_rss(feed)
        assert await bob.followed_feeds() == [
            ph.FollowedFeed(feed=feed, author=alice.public_key(), name="news", last_number=1, missed=0)
        ]
        assert (await bob.fetch_feed(feed)).posts == []

        with pytest.raises(ph.PigeonholeError.NotPermitted):
            await bob.edit_post(first.id, "Mine")
        edited = await alice.edit_post(first.id, "Hello again", summary="edited")
        assert edited.replaces == first.id and edited.guid == first.guid
        [read_edit] = (await bob.fetch_feed(feed)).posts
        assert read_edit.id == edited.id
        assert await events.next() == ph.Event.FEED_POST_EDITED(read_edit)
        assert [p.title for p in await bob.feed_posts(feed)] == ["Hello again"]

        await alice.delete_post(edited.id)
        with pytest.raises(ph.PigeonholeError.UnknownPost):
            await alice.delete_post(edited.id)
        assert (await bob.fetch_feed(feed)).deleted == [edited.id]
        assert await events.next() == ph.Event.FEED_POST_DELETED(feed, edited.id)
        assert await bob.feed_posts(feed) == []
        assert await bob.unfollow_feed(feed)
        subscription.cancel()
        await alice.stop()
        await bob.stop()

    run(scenario())


def test_a_document_notice_is_watched_and_read_with_its_inline_content(tmp_path, run):
    async def scenario():
        alice, bob = await two_nodes(tmp_path / "alice", tmp_path / "bob")
        events = QueueListener()
        subscription = bob.add_listener(events)
        doc = alice.own_document("plan")
        assert doc == ph.DocumentRef(owner=alice.public_key(), name="plan")
        with pytest.raises(ph.PigeonholeError.NotWatched):
            await bob.fetch_document_updates(ph.DocumentRef(owner=alice.public_key(), name="other"))
        assert await bob.watch_document(doc)
        assert not await bob.watch_document(doc)

        v1 = b"the plan, version 1"
        v1_id = await alice.notify_document_update(doc, 1, ph.DocumentContent.CARRY(v1), "first draft")
        # Version 2 is never published: the watcher is told of the gap.
        await alice.notify_document_update(doc, 3, ph.DocumentContent.CARRY(b"v3"))
        with pytest.raises(ph.PigeonholeError.NotPermitted):
            await bob.notify_document_update(doc, 4, ph.DocumentContent.CARRY(v1))

        updates = await bob.fetch_document_updates(doc)
        assert [n.version for n in updates.notices] == [1, 3]
        assert updates.gaps == [ph.VersionGap(from_version=2, to_version=2)]
        assert updates.conflicts == []
        notice = updates.notices[0]
        assert notice.id == v1_id and notice.doc == doc
        assert notice.sender == alice.public_key()
        assert notice.change_summary == "first draft" and notice.size == len(v1)
        assert notice.inline_content == v1 and notice.chain_head is None
        assert await bob.document_content(notice) == v1

        # Events: the gap, then each version in order.
        assert await events.next() == ph.Event.DOCUMENT_GAP(doc, 2, 2)
        assert await events.next() == ph.Event.DOCUMENT_UPDATED(notice)
        assert (await events.next()).notice.version == 3

        assert await bob.watched_documents() == [ph.WatchedDocument(doc=doc, last_version=3)]
        assert (await bob.fetch_document_updates(doc)).notices == []
        assert await bob.unwatch_document(doc)
        subscription.cancel()
        await alice.stop()
        await bob.stop()

    run(scenario())
