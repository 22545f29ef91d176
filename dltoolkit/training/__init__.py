"""Training choices shared by every model: losses, optimisers, schedules, trainer defaults."""
