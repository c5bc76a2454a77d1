"""One router per resource, each with its /api/v1 prefix and tags."""
