"""What a token means: energy tokens held by provenance, matched against metered
consumption, burned under the user's own approval and certified.

- `matching`: provenance lots and the campus matching policy (pure);
- `certificates`: granular certificates and each epoch's Merkle tree (pure);
- `store`: the lots, retirements and certificates in the database;
- `retirement`: the chain worker's exactly-once retirement of each minted epoch;
- `audit`: minted = held + retired, per meter and production epoch (the reconciliation);
- `queries`: what the API and other modules read (statements, proofs, totals).
"""
