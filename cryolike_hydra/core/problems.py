"""Where the problems a check finds go: raised at once (a conversion), or collected (the dry run, which reports
every problem instead of the first). The checks are the same for both; only this differs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import CryolikeError, InputError

T = TypeVar("T")
MAX_LISTED = 10  # problems named in the one-line error (the log lists all)


class ProblemLog:
    """Errors of the user's input or settings: collected (``collect=True``), else raised when they happen.

    Parameters
    ----------
    collect
        True for the dry run.
    """

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.problems: list[CryolikeError] = []

    def __bool__(self) -> bool:
        return bool(self.problems)

    def add(self, problem: CryolikeError) -> None:
        """Raise ``problem``, or keep it with the further problems it carries (``also``) once each."""
        if not self.collect:
            raise problem
        seen = {str(p) for p in self.problems}
        for one in (problem, *problem.also):
            if str(one) not in seen:
                self.problems.append(one)
                seen.add(str(one))

    def attempt(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``action(*args, **kwargs)``, or None when it raised a CryolikeError that was collected."""
        try:
            return action(*args, **kwargs)
        except CryolikeError as exc:
            self.add(exc)
            return None

    def passes(self, check: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """Whether ``check(*args, **kwargs)`` raised no CryolikeError (which is raised or collected)."""
        try:
            check(*args, **kwargs)
        except CryolikeError as exc:
            self.add(exc)
            return False
        return True

    def error(self) -> CryolikeError:
        """One error for all problems: the problem itself when there is one, else a list of them."""
        if len(self.problems) == 1:
            return self.problems[0]
        listed = "; ".join(f"({k}) {p.template()}" for k, p in enumerate(self.problems[:MAX_LISTED], 1))
        more = len(self.problems) - MAX_LISTED
        return InputError(
            f"the dry run found {len(self.problems)} problems: {listed}"
            + (f"; and {more} more (see the log)" if more > 0 else ""),
            fix="correct every problem listed, then run again",
        )
