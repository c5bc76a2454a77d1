"""What a token means over its life: energy tokens held by provenance, matched against
metered consumption, burned under the user's own approval and certified; and what
that consumption cost against the grid, with the emissions the retired energy avoided.

- `matching`: provenance lots and the campus matching policy (pure);
- `certificates`: granular certificates and each epoch's Merkle tree (pure);
- `store`: the lots, retirements and certificates in the database (the chain worker's
  exactly-once retirement, `coordinator.onchain.retirement`, reads and writes them);
- `audit`: minted = held + retired, per meter and production epoch (the reconciliation);
- `queries`: what the API and other modules read (statements, proofs, totals, and the
  matched Wh per user and epoch that carbon counts);
- `bills` (pure): each user's epoch bill, actual cost beside the grid-only bill;
- `carbon` (pure): avoided emissions of matched renewable energy, and the
  `MatchedEnergy` rule that says which energy is matched (`RetiredEnergy`: the energy
  retired against metered import, certified);
- `usage_store`: what was metered and traded per user and epoch, from the database;
- `statements`: the service the API asks, with the grid prices and emission factor
  in force per epoch.
"""
