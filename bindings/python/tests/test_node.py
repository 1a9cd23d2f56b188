"""The bindings as a Python program meets them: real nodes on 127.0.0.1,
real SQLite files in temporary directories, uniffi's generated module."""

import gc
import socket
import time

import pytest

import pigeonhole as ph
from conftest import QueueListener, loopback, port_of, two_nodes, WAIT_S


def test_two_nodes_on_loopback_see_each_other(tmp_path, run):
    async def scenario():
        a, b = await two_nodes(tmp_path / "a", tmp_path / "b")
        assert len(a.public_key()) == 64 and a.public_key() != b.public_key()
        assert a.status().listen_addresses[0].startswith("/ip4/127.0.0.1/tcp/")
        assert a.status().connected_peers >= 1
        await a.ping()
        await a.stop()
        await b.stop()

    run(scenario())


def test_request_accept_lifecycle_delivers_each_event(tmp_path, run):
    async def scenario():
        alice, bob = await two_nodes(tmp_path / "alice", tmp_path / "bob")
        await alice.set_profile("Alice")
        await bob.set_profile("Bob", "bob")
        alice_events, bob_events = QueueListener(), QueueListener()
        alice_sub = alice.add_listener(alice_events)
        bob_sub = bob.add_listener(bob_events)

        email = ph.ContactDetail(kind=ph.ContactDetailKind.EMAIL, value="alice@example.org")
        sent = await alice.send_request(await bob.contact_code(), "hi Bob", [email])
        assert sent.to == bob.public_key()
        assert sent.status == ph.SentRequestStatus.PENDING

        assert (await bob.sync_now()).requests_received == 1
        received = await bob_events.next()
        assert received == ph.Event.REQUEST_RECEIVED(sent.id, alice.public_key(), "Alice", False)
        [pending] = await bob.pending_requests()
        assert pending.message == "hi Bob" and pending.contacts == [email]

        buddy = await bob.accept(pending.id)
        assert buddy.public_key == alice.public_key()
        assert await bob_events.next() == ph.Event.BUDDY_ADDED(alice.public_key(), "Alice")
        assert await bob.pending_requests() == []
        with pytest.raises(ph.PigeonholeError.UnknownRequest):
            await bob.accept(pending.id)

        assert (await alice.sync_now()).answers_received == 1
        assert await alice_events.next() == ph.Event.REQUEST_ANSWERED(
            sent.id, bob.public_key(), True
        )
        assert await alice_events.next() == ph.Event.BUDDY_ADDED(bob.public_key(), "Bob")
        assert [b.public_key for b in await alice.buddies()] == [bob.public_key()]
        [mine] = await alice.sent_requests()
        assert mine.status == ph.SentRequestStatus.ACCEPTED

        # Cancelling stops delivery: removing the buddy emits nothing more.
        bob_sub.cancel()
        assert bob_sub.is_cancelled()
        assert await bob.remove_buddy(alice.public_key())
        assert bob_events.events.empty()
        alice_sub.cancel()
        await alice.stop()
        await bob.stop()

    run(scenario())


def test_bad_input_raises_the_documented_kinds(tmp_path, run):
    async def scenario():
        node = await ph.PigeonholeNode.start(loopback(tmp_path))
        await node.set_profile("Carol")
        with pytest.raises(ph.PigeonholeError.BadContactCode) as bad:
            await node.send_request("PH-NOT-A-CODE", "hello")
        assert bad.value.reason
        with pytest.raises(ph.PigeonholeError.BadContactCode):
            ph.contact_code_qr("hello")
        with pytest.raises(ph.PigeonholeError.OwnCode):
            await node.send_request(await node.contact_code())
        with pytest.raises(ph.PigeonholeError.InvalidInput):
            await node.accept("not hex")
        with pytest.raises(ph.PigeonholeError.BadAddress):
            await node.add_peer("nowhere")
        with pytest.raises(ph.PigeonholeError.InvalidInput):
            await ph.PigeonholeNode.start(ph.NodeOptions(data_dir=""))
        qr = ph.contact_code_qr(await node.contact_code())
        assert len(qr.modules) == qr.size * qr.size
        assert "<svg" in ph.contact_code_svg(await node.contact_code())
        await node.stop()

    run(scenario())


def test_stop_and_restart_keep_the_identity(tmp_path, run):
    async def scenario():
        node = await ph.PigeonholeNode.start(loopback(tmp_path / "n"))
        key, code = node.public_key(), await node.contact_code()
        await node.stop()
        assert node.is_stopped()
        with pytest.raises(ph.PigeonholeError.Stopped):
            await node.contact_code()
        await node.stop()  # a second stop does nothing
        again = await ph.PigeonholeNode.start(loopback(tmp_path / "n"))
        assert again.public_key() == key and await again.contact_code() == code
        other = await ph.PigeonholeNode.start(loopback(tmp_path / "other"))
        assert other.public_key() != key
        await again.stop()
        await other.stop()

    run(scenario())


def bind(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
        s.listen(1)


def test_dropping_the_node_releases_its_port(tmp_path, run):
    async def start(port=0):
        return await ph.PigeonholeNode.start(loopback(tmp_path, port=port))

    node = run(start())
    port = port_of(node.status().listen_addresses[0])
    with pytest.raises(OSError):
        bind(port)
    del node  # no stop(): dropping the object stops the node
    gc.collect()
    bind(port)
    again = run(start(port))
    assert port_of(again.status().listen_addresses[0]) == port
    run(again.stop())


def test_log_lines_reach_the_app_sink_and_installing_twice_is_safe(tmp_path, run):
    lines = []

    class Sink(ph.LogSink):
        def log(self, level, target, message):
            lines.append((level, target, message))

    sink = Sink()
    ph.init_logging(ph.LogLevel.INFO, sink)
    ph.init_logging(ph.LogLevel.INFO, sink)

    async def scenario():
        node = await ph.PigeonholeNode.start(loopback(tmp_path))
        await node.stop()

    run(scenario())
    # The sink is called on the library's log thread: wait (bounded).
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and not any("node stopped" in l[2] for l in lines):
        time.sleep(0.01)
    ph.init_logging(ph.LogLevel.WARN, None)
    started = [l for l in lines if "pigeonhole node started" in l[2]]
    assert started and started[0][0] == ph.LogLevel.INFO
    assert started[0][1] == "pigeonhole_sdk"


def test_a_withdrawn_request_leaves_the_recipients_pending_list(tmp_path, run):
    async def scenario():
        alice, bob = await two_nodes(tmp_path / "alice", tmp_path / "bob")
        await alice.set_profile("Alice")
        await bob.set_profile("Bob")
        alice_events = QueueListener()
        alice_sub = alice.add_listener(alice_events)
        sent = await alice.send_request(await bob.contact_code(), "hi Bob", [])
        assert (await bob.sync_now()).requests_received == 1
        assert len(await bob.pending_requests()) == 1

        await alice.withdraw_request(sent.id)
        assert await alice_events.next() == ph.Event.REQUEST_WITHDRAWN(sent.id)
        [mine] = await alice.sent_requests()
        assert mine.status == ph.SentRequestStatus.WITHDRAWN
        with pytest.raises(ph.PigeonholeError.NotPending):
            await alice.withdraw_request(sent.id)
        with pytest.raises(ph.PigeonholeError.UnknownRequest):
            await alice.withdraw_request("ab" * 32)

        assert (await bob.sync_now()).withdrawn == 1
        assert await bob.pending_requests() == []
        alice_sub.cancel()
        await alice.stop()
        await bob.stop()

    run(scenario())
