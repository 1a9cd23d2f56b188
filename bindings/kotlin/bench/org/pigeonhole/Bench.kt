// Measures the bindings from Kotlin: the cost of a no-op async call across
// the boundary (with a plain suspend call on the same thread as baseline)
// and the send -> event latency between two nodes on loopback. Printed as a
// table by scripts/bench-bindings; short on purpose (a shared machine).
package org.pigeonhole

import java.nio.file.Files
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield

/** The `p` quantile of nanosecond samples, in microseconds. */
fun percentile(samples: List<Long>, p: Double): Double {
    val sorted = samples.sorted()
    return sorted[((sorted.size - 1) * p).toInt()] / 1000.0
}

fun row(name: String, samples: List<Long>) {
    val cells = listOf(0.5, 0.9, 0.99).map { "%10.1f".format(percentile(samples, it)) }
    println("%-50s %6d %s".format(name, samples.size, cells.joinToString(" ")))
}

suspend fun timeEach(count: Int, body: suspend () -> Unit): List<Long> =
    (0 until count).map {
        val start = System.nanoTime()
        body()
        System.nanoTime() - start
    }

suspend fun noop() = yield()

fun main(args: Array<String>) = runBlocking {
    val calls = args.getOrNull(0)?.toInt() ?: 2000
    val senders = args.getOrNull(1)?.toInt() ?: 4
    initLogging(LogLevel.ERROR, null)
    val dirs = (0..senders).map { Files.createTempDirectory("pigeonhole-bench").toFile() }
    try {
        val bob = PigeonholeNode.start(loopback(dirs[0].path))
        bob.setProfile("Bob")
        val bobCode = bob.contactCode()
        val received = Channel<Event>(Channel.UNLIMITED)
        val subscription = bob.addListener(ChannelListener(received))

        println("%-50s %6s %10s %10s %10s".format("measure (microseconds)", "n", "p50", "p90", "p99"))
        timeEach(200) { bob.ping() } // warm-up
        row("baseline: Kotlin suspend call (yield)", timeEach(calls) { noop() })
        row("no-op async call across the boundary (ping)", timeEach(calls) { bob.ping() })
        row("sync call across the boundary (publicKey)", timeEach(calls) { bob.publicKey() })

        // Each sender sends one request; Bob syncs; the time runs from the
        // send until Bob's listener has the event.
        val latencies = mutableListOf<Long>()
        for (index in 1..senders) {
            PigeonholeNode.start(loopback(dirs[index].path, bob.status().listenAddresses)).use { alice ->
                alice.waitForPeers(1u, WAIT_MS.toULong())
                bob.waitForPeers(index.toUInt(), WAIT_MS.toULong())
                alice.setProfile("Alice$index")
                val start = System.nanoTime()
                alice.sendRequest(bobCode, "hi")
                bob.syncNow()
                withTimeout(WAIT_MS) {
                    while (received.receive() !is Event.RequestReceived) {}
                }
                latencies += System.nanoTime() - start
            }
        }
        row("send -> RequestReceived (send + syncNow + event)", latencies)
        subscription.cancel()
        bob.close()
    } finally {
        dirs.forEach { it.deleteRecursively() }
    }
}
