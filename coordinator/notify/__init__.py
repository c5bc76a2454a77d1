"""User notifications: an order excluded, a trade settled, energy minted, a gateway
silent or revoked, told to each user who opted in, by email and/or signed webhook.

The pure core decides and renders: `events` (what happened, to whom), `messages`
(idempotency keys, the plain-text email, the webhook body and its signature),
`policy` (which webhook addresses may be reached, the retry schedule). No I/O,
no logging there. Around it: `store` (subscriptions, the outbox, the producer's
position, in the database), `sources` (reads the events where they happen),
`senders` (SMTP and HTTP), `worker` (the producer and the delivery loop).

May import the layers below it (`coordinator.onchain`, `coordinator.ops`, the
domains, `coordinator.db`, `coordinator.config`, `coordinator.errors`: it reads
what they record) and, as the one exception, `coordinator.api.reasons` (the
reason codes' words, written once); the API, the runner and the CLI import it.
The pure core imports none of the services (an import-linter contract).
"""
