"""Rollouts: devices, the episode step, group play, episode records on disk, the env, deployment."""
