package org.pigeonhole.android

import android.content.Context
import android.net.wifi.WifiManager
import org.pigeonhole.NodeOptions
import org.pigeonhole.PigeonholeNode

/**
 * Holds a Wi-Fi [WifiManager.MulticastLock] while a node runs.
 *
 * Android drops multicast packets unless an app holds this lock, and mDNS
 * (how nodes find each other on a LAN) is multicast. Acquire it before
 * starting a node with `mdns = true`, release it when the node stops; the
 * lock costs battery, so do not hold it longer.
 *
 * ```
 * val lock = MulticastLockHolder(context)
 * val node = lock.start(NodeOptions(dataDir = context.filesDir.resolve("pigeonhole").path))
 * // …
 * lock.stop(node)
 * ```
 */
class MulticastLockHolder(context: Context, tag: String = "pigeonhole") {
    private val lock: WifiManager.MulticastLock =
        (context.applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager)
            .createMulticastLock(tag)
            .apply { setReferenceCounted(false) }

    /** Whether the lock is held now. */
    val isHeld: Boolean get() = lock.isHeld

    /** Takes the lock (does nothing if held). */
    fun acquire() {
        if (!lock.isHeld) lock.acquire()
    }

    /** Lets the lock go (does nothing if not held). */
    fun release() {
        if (lock.isHeld) lock.release()
    }

    /** Takes the lock, then starts a node; lets it go if the start fails. */
    suspend fun start(options: NodeOptions): PigeonholeNode {
        acquire()
        return try {
            PigeonholeNode.start(options)
        } catch (error: Throwable) {
            release()
            throw error
        }
    }

    /** Stops and closes `node`, then lets the lock go. */
    suspend fun stop(node: PigeonholeNode) {
        try {
            node.stop()
            node.close()
        } finally {
            release()
        }
    }
}
