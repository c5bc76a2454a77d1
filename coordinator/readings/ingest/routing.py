"""Which coordinator instance ingests which gateway's readings.

A broker's shared subscription (`$share/...`) hands messages to its members in
turn, so one gateway's readings may be decided by two instances at once: they
contend for the gateway's lock and a reading decided after a newer one of the
same meter is rejected as `stale_reading`. Mosquitto has no sticky strategy, so
with `GTX_INGEST_PARTITIONS=n` each of n instances subscribes to every reading
(its own persistent session) and keeps those of its own gateways, acknowledging
the others at once: every gateway is decided by one instance, in order.
"""

import zlib

from wire import topics

__all__ = ["owner", "owns_topic", "topic_owner"]


def owner(gateway_id: str, partitions: int) -> int:
    """The instance (0..partitions-1) that ingests `gateway_id`'s readings."""
    return zlib.crc32(gateway_id.encode()) % partitions


def topic_owner(root: str, topic: str, partitions: int) -> int:
    """The instance (or worker) that takes a message on `topic`. Topics that name no
    gateway go to 0, which records their rejection once."""
    gateway_id = topics.gateway_id_from_topic(root, topic)
    return 0 if gateway_id is None else owner(gateway_id, partitions)


def owns_topic(root: str, topic: str, partition: int, partitions: int) -> bool:
    """Whether instance `partition` of `partitions` keeps a message on `topic`."""
    return topic_owner(root, topic, partitions) == partition
