"""What a token means over its life: bills against the grid and avoided emissions.

- `bills` (pure): each user's epoch bill, actual cost beside the grid-only bill;
- `carbon` (pure): avoided emissions of matched renewable energy;
- `usage_store`: what was metered and traded per user and epoch, from the database;
- `statements`: the service the API asks, with the grid prices and emission factor
  in force per epoch.
"""
