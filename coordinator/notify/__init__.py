"""User notifications: an order excluded, a trade settled, energy minted, a gateway
silent or revoked, told to each user who opted in, by email and/or signed webhook.

The pure core decides and renders: `events` (what happened, to whom), `messages`
(idempotency keys, the plain-text email, the webhook body and its signature),
`policy` (which webhook addresses may be reached, the retry schedule). No I/O,
no logging there. Around it: `store` (subscriptions, the outbox, the producer's
position, in the database), `sources` (reads the events where they happen),
`senders` (SMTP and HTTP), `worker` (the producer and the delivery loop).

May import: `coordinator.market`, `coordinator.onchain`, `coordinator.ops`,
`coordinator.devices`, `coordinator.db`, `coordinator.config`, `coordinator.errors`
(it reads what they recorded); the API and the runner import it.
"""
