"""Stop a training run cleanly on Ctrl-C (SIGINT) and on ``kill`` (SIGTERM).

SIGTERM is what ``kill``, ``timeout``, a preempted Colab session and a cluster scheduler send
before they kill for good. By default Python dies on it at once, and the steps since the last
checkpoint are lost. While :class:`GracefulInterrupts` is active both signals raise
:class:`Interrupted` (a ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` catches both), and
``fit`` saves the last completed step. Inside ``critical()`` (an optimizer update, a save) the
signal waits until the block ends, so it never lands between half-updated weights.
"""
import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class GracefulInterrupts:
    """``with GracefulInterrupts() as guard:`` SIGINT/SIGTERM raise :class:`Interrupted`, but
    not inside ``with guard.critical():``. Outside the main thread it changes nothing (Python
    lets only the main thread set signal handlers)."""

    def __init__(self):
        self.depth, self.pending, self.raised, self.previous = 0, None, False, {}

    def __enter__(self) -> "GracefulInterrupts":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        if self.depth > 0 or self.raised:  # mid-update, or already saving: finish that first
            self.pending = self.pending or signum
            return
        self.raised = True
        raise Interrupted(signum)

    @contextmanager
    def critical(self):
        """A block that a signal must not cut in two; the signal is raised when it ends."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.depth == 0 and self.pending is not None and not self.raised:
            self.raised = True
            raise Interrupted(self.pending)
