"""Shared helpers for the Python binding tests.

The generated module `pigeonhole` and the library it loads
(`libpigeonhole_ffi.so`) must sit together on PYTHONPATH:
scripts/test-bindings copies both into one directory.
"""

import asyncio
import queue

import pytest

import pigeonhole as ph

WAIT_S = 60.0
"""Generous: the machine running the tests may be busy."""


def loopback(data_dir, bootstrap=(), port=0):
    """Options for a node on loopback that syncs only when asked."""
    return ph.NodeOptions(
        data_dir=str(data_dir),
        listen_addresses=[f"/ip4/127.0.0.1/tcp/{port}"],
        mdns=False,
        bootstrap_peers=list(bootstrap),
        sync_interval_secs=0,
    )


async def two_nodes(dir_a, dir_b):
    """Two connected nodes: the second bootstraps from the first."""
    a = await ph.PigeonholeNode.start(loopback(dir_a))
    b = await ph.PigeonholeNode.start(loopback(dir_b, a.status().listen_addresses))
    assert (await b.wait_for_peers(1, int(WAIT_S * 1000))).routing_peers >= 1
    assert (await a.wait_for_peers(1, int(WAIT_S * 1000))).routing_peers >= 1
    return a, b


class QueueListener(ph.EventListener):
    """A listener that hands each event to a thread-safe queue."""

    def __init__(self):
        self.events = queue.Queue()

    def on_event(self, event):
        self.events.put(event)

    async def next(self):
        return await asyncio.to_thread(self.events.get, True, WAIT_S)


def port_of(address):
    return int(address.split("/tcp/")[1].split("/")[0])


@pytest.fixture
def run():
    """Runs a coroutine to completion on a fresh event loop."""
    return asyncio.run
