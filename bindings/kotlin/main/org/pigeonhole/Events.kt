// Hand-written Kotlin shipped with the generated bindings: what Android
// developers reach for on top of the listener (a cold Flow of events).
// Tested on the JVM by bindings/kotlin/test (scripts/test-bindings).
package org.pigeonhole

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * This node's events as a cold [Flow]: each collector registers its own
 * listener when it starts collecting and closes it when the collecting
 * coroutine is cancelled (or the flow is otherwise completed).
 *
 * Events are buffered without bound, so a slow collector never makes the
 * node drop one (the node itself reports [Event.EventsLost] when the
 * listener falls more than 256 events behind).
 *
 * ```
 * lifecycleScope.launch {
 *     node.events().collect { event ->
 *         when (event) {
 *             is Event.RequestReceived -> showRequest(event.displayName)
 *             else -> refresh()
 *         }
 *     }
 * }
 * ```
 */
fun PigeonholeNode.events(): Flow<Event> = callbackFlow {
    val subscription = addListener(object : EventListener {
        override fun onEvent(event: Event) {
            trySend(event)
        }
    })
    awaitClose { subscription.cancel() }
}.buffer(Channel.UNLIMITED)
