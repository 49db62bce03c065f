"""Training pieces that the Runner assembles: optimisers and schedules, the step and epoch loop,
the run's progress state, checkpoint policy, signal handling and progress display."""
