"""The web dashboard: static ES modules, CSS and HTML served by the coordinator (no build step)."""
