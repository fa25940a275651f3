"""Process helpers shared by training and the services."""
from __future__ import annotations


def die_with_parent(sig: int = 9) -> None:
    """Linux: this process gets `sig` (SIGKILL) when its parent dies, so a killed sweep or CLI never
    leaves an orphan training on (and writing into) a run folder, nor a server running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
