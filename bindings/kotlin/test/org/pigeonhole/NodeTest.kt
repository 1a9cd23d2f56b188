// The bindings as a Kotlin app meets them: real nodes on 127.0.0.1, real
// SQLite files in temporary directories, the generated Kotlin over JNA.
// Run by scripts/test-bindings with the JUnit console launcher.
package org.pigeonhole

import java.io.File
import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Files
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

/** Generous: the machine running the tests may be busy. */
const val WAIT_MS = 60_000L

/** A listener that hands each event to a channel. */
class ChannelListener(private val channel: Channel<Event>) : EventListener {
    override fun onEvent(event: Event) {
        channel.trySend(event)
    }
}

/** Options for a node on loopback that syncs only when asked. */
fun loopback(dir: String, bootstrap: List<String> = emptyList(), port: Int = 0) = NodeOptions(
    dataDir = dir,
    listenAddresses = listOf("/ip4/127.0.0.1/tcp/$port"),
    mdns = false,
    bootstrapPeers = bootstrap,
    syncIntervalSecs = 0uL,
)

/** Two connected nodes: the second bootstraps from the first. */
suspend fun twoNodes(dirA: String, dirB: String): Pair<PigeonholeNode, PigeonholeNode> {
    val a = PigeonholeNode.start(loopback(dirA))
    val b = PigeonholeNode.start(loopback(dirB, a.status().listenAddresses))
    assertTrue(b.waitForPeers(1u, WAIT_MS.toULong()).routingPeers >= 1uL, "b found a")
    assertTrue(a.waitForPeers(1u, WAIT_MS.toULong()).routingPeers >= 1uL, "a found b")
    return a to b
}

suspend fun <T> Channel<T>.next(): T = withTimeout(WAIT_MS) { receive() }

fun port(address: String): Int = address.substringAfterLast("/tcp/").substringBefore('/').toInt()

class NodeTest {
    private val dirs = mutableListOf<File>()

    private fun tempDir(): String =
        Files.createTempDirectory("pigeonhole-kt").toFile().also { dirs += it }.absolutePath

    @AfterEach
    fun removeDirs() {
        dirs.forEach { it.deleteRecursively() }
    }

    @Test
    fun twoNodesOnLoopbackSeeEachOther() = runBlocking {
        val (a, b) = twoNodes(tempDir(), tempDir())
        a.use {
            b.use {
                assertEquals(64, a.publicKey().length)
                assertNotEquals(a.publicKey(), b.publicKey())
                assertTrue(a.status().listenAddresses.single().startsWith("/ip4/127.0.0.1/tcp/"))
                assertTrue(a.status().connectedPeers >= 1uL)
                a.ping()
            }
        }
    }

    @Test
    fun requestAcceptLifecycleDeliversEachEvent() = runBlocking {
        val (alice, bob) = twoNodes(tempDir(), tempDir())
        alice.use {
            bob.use {
                alice.setProfile("Alice")
                bob.setProfile("Bob", "bob")
                // Bob listens through the listener; Alice through the Flow
                // helper, collected unconfined so it is registered at once.
                val bobEvents = Channel<Event>(Channel.UNLIMITED)
                val bobSubscription = bob.addListener(ChannelListener(bobEvents))
                val aliceEvents = Channel<Event>(Channel.UNLIMITED)
                val scope = CoroutineScope(Dispatchers.Unconfined)
                scope.launch { alice.events().collect { aliceEvents.send(it) } }

                val email = ContactDetail(ContactDetailKind.EMAIL, "alice@example.org")
                val sent = alice.sendRequest(bob.contactCode(), "hi Bob", listOf(email))
                assertEquals(bob.publicKey(), sent.to)
                assertEquals(SentRequestStatus.PENDING, sent.status)

                assertEquals(1u, bob.syncNow().requestsReceived)
                val received = bobEvents.next() as Event.RequestReceived
                assertEquals(sent.id, received.requestId)
                assertEquals(alice.publicKey(), received.from)
                assertEquals("Alice", received.displayName)
                val pending = bob.pendingRequests().single()
                assertEquals("hi Bob", pending.message)
                assertEquals(listOf(email), pending.contacts)

                val buddy = bob.accept(pending.id)
                assertEquals(alice.publicKey(), buddy.publicKey)
                assertEquals(Event.BuddyAdded(alice.publicKey(), "Alice"), bobEvents.next())
                assertTrue(bob.pendingRequests().isEmpty())
                assertFailsWith<PigeonholeException.UnknownRequest> { runBlocking { bob.accept(pending.id) } }

                assertEquals(1u, alice.syncNow().answersReceived)
                assertEquals(Event.RequestAnswered(sent.id, bob.publicKey(), true), aliceEvents.next())
                assertEquals(Event.BuddyAdded(bob.publicKey(), "Bob"), aliceEvents.next())
                assertEquals(listOf(bob.publicKey()), alice.buddies().map { it.publicKey })
                assertEquals(SentRequestStatus.ACCEPTED, alice.sentRequests().single().status)

                // Cancelling stops delivery: removing the buddy emits nothing more.
                bobSubscription.cancel()
                assertTrue(bobSubscription.isCancelled())
                assertTrue(bob.removeBuddy(alice.publicKey()))
                assertTrue(bobEvents.tryReceive().isFailure)
                scope.cancel()
            }
        }
    }

    @Test
    fun aWithdrawnRequestLeavesTheRecipientsPendingList() = runBlocking {
        val (alice, bob) = twoNodes(tempDir(), tempDir())
        alice.use {
            bob.use {
                alice.setProfile("Alice")
                bob.setProfile("Bob")
                val sent = alice.sendRequest(bob.contactCode(), "hi Bob")
                assertEquals(1u, bob.syncNow().requestsReceived)
                assertEquals(1, bob.pendingRequests().size)

                alice.withdrawRequest(sent.id)
                assertEquals(SentRequestStatus.WITHDRAWN, alice.sentRequests().single().status)
                assertFailsWith<PigeonholeException.NotPending> { runBlocking { alice.withdrawRequest(sent.id) } }
                assertFailsWith<PigeonholeException.UnknownRequest> { runBlocking { alice.withdrawRequest("ab".repeat(32)) } }

                assertEquals(1u, bob.syncNow().withdrawn)
                assertTrue(bob.pendingRequests().isEmpty())
            }
        }
    }

    @Test
    fun badInputRaisesTheDocumentedKinds() = runBlocking {
        PigeonholeNode.start(loopback(tempDir())).use { node ->
            node.setProfile("Carol")
            val badCode = assertFailsWith<PigeonholeException.BadContactCode> {
                runBlocking { node.sendRequest("PH-NOT-A-CODE", "hello") }
            }
            assertTrue(badCode.reason.isNotEmpty())
            assertFailsWith<PigeonholeException.BadContactCode> { contactCodeQr("hello") }
            assertFailsWith<PigeonholeException.OwnCode> {
                runBlocking { node.sendRequest(node.contactCode()) }
            }
            assertFailsWith<PigeonholeException.InvalidInput> { runBlocking { node.accept("not hex") } }
            assertFailsWith<PigeonholeException.InvalidInput> { runBlocking { node.block("00") } }
            assertFailsWith<PigeonholeException.BadAddress> { runBlocking { node.addPeer("nowhere") } }
            assertFailsWith<PigeonholeException.InvalidInput> { runBlocking { node.setProfile("bad\nname") } }
            assertFailsWith<PigeonholeException.InvalidInput> {
                runBlocking { PigeonholeNode.start(NodeOptions(dataDir = "")) }
            }
            val qr = contactCodeQr(node.contactCode())
            assertEquals((qr.size * qr.size).toInt(), qr.modules.size)
            assertTrue(contactCodeSvg(node.contactCode()).contains("<svg"))
        }
    }

    @Test
    fun stopAndRestartKeepTheIdentity() = runBlocking {
        val dir = tempDir()
        val (key, code) = PigeonholeNode.start(loopback(dir)).use { node ->
            val identity = node.publicKey() to node.contactCode()
            node.stop()
            assertTrue(node.isStopped())
            assertFailsWith<PigeonholeException.Stopped> { runBlocking { node.contactCode() } }
            node.stop() // a second stop does nothing
            identity
        }
        PigeonholeNode.start(loopback(dir)).use { node ->
            assertEquals(key, node.publicKey())
            assertEquals(code, node.contactCode())
        }
        PigeonholeNode.start(loopback(tempDir())).use { other ->
            assertNotEquals(key, other.publicKey())
        }
    }

    @Test
    fun closingTheNodeReleasesItsPort() = runBlocking {
        val dir = tempDir()
        val node = PigeonholeNode.start(loopback(dir))
        val port = port(node.status().listenAddresses.single())
        val loopbackIp = InetAddress.getByName("127.0.0.1")
        assertFailsWith<java.net.BindException> { ServerSocket(port, 1, loopbackIp).close() }
        node.close() // no stop(): dropping the object stops the node
        ServerSocket(port, 1, loopbackIp).close()
        PigeonholeNode.start(loopback(dir, port = port)).use { again ->
            assertEquals(port, port(again.status().listenAddresses.single()))
        }
    }

    @Test
    fun logLinesReachTheAppSinkAndInstallingTwiceIsSafe() = runBlocking {
        val lines = Channel<String>(Channel.UNLIMITED)
        val sink = object : LogSink {
            override fun log(level: LogLevel, target: String, message: String) {
                lines.trySend("$level $target $message")
            }
        }
        initLogging(LogLevel.INFO, sink)
        initLogging(LogLevel.INFO, sink)
        PigeonholeNode.start(loopback(tempDir())).use { it.stop() }
        initLogging(LogLevel.WARN, null)
        val started = withTimeout(WAIT_MS) {
            var line = lines.receive()
            while (!line.contains("pigeonhole node started")) line = lines.receive()
            line
        }
        assertTrue(started.startsWith("INFO pigeonhole_sdk"), started)
        assertFalse(started.contains('\n'))
    }
}
