"""Bundled sweep configs, shipped in the wheel as package data (`transfer-laws run demo` finds them by name)."""
