"""The TUI's widgets, one module per feature (devices, session, history, prompts, chart)."""
