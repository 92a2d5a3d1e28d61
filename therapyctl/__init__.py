"""``python -m therapyctl``: the command as a module. Only this shim lives here; the code is
in the top-level packages ``protocols``, ``device``, ``simulator`` and ``ui``."""
