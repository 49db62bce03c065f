"""Training pieces that the Runner assembles: optimisers, schedules, the epoch loop."""
