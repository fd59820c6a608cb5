"""Promotion as compare-and-set, as pure functions: a champion step promotes what was evaluated only if
the world it was evaluated in still holds.

An evaluation compares one challenger version with one champion version on one holdout version.
Between that evaluation and the champion step, another run may have trained a newer challenger,
promoted something else, rolled the champion back, or replaced the holdout; promoting then would
act on a comparison nobody made (and could silently undo a promotion or a rollback). So the
champion step re-reads the aliases and the holdout and refuses when any of them moved.
"""

from __future__ import annotations

from collections.abc import Mapping


def _v(version: str | None) -> str:
    return f"v{version}" if version is not None else "none"


def promotion_conflicts(
    evaluated: Mapping[str, object],
    challenger_now: str | None,
    champion_now: str | None,
    holdout_now: int | None,
    rolled_back: Mapping[str, str] | None = None,
) -> list[str]:
    """Why ``evaluated`` (an evaluation result: ``challenger_version``, ``champion_version``,
    ``holdout_version``) may no longer be promoted; empty when it may.

    ``rolled_back`` are the evaluated version's rollback stamps (``at``, ``by``, ``reason``) when a
    rollback took it off the champion alias: a person decided against it after the gate had passed
    it, so no automatic step may bring it back (``flywheel models promote`` still can, by hand).
    """
    version = str(evaluated["challenger_version"])
    compared = evaluated.get("champion_version")
    compared = None if compared is None else str(compared)
    reasons = []
    if rolled_back:
        at, by, why = (rolled_back.get(k, "?") for k in ("at", "by", "reason"))
        reasons.append(
            f"v{version} was rolled back at {at} by {by} ({why}); "
            "only a person may promote it again (flywheel models promote)"
        )
    if challenger_now != version:
        reasons.append(
            f"the challenger alias moved since v{version} was evaluated: it is now {_v(challenger_now)}"
        )
    if champion_now != compared:
        reasons.append(
            f"the champion moved since v{version} was evaluated: it was compared with {_v(compared)}, "
            f"the champion is now {_v(champion_now)}"
        )
    evaluated_holdout = evaluated.get("holdout_version")
    if evaluated_holdout is not None and holdout_now != evaluated_holdout:
        reasons.append(
            f"the holdout changed since v{version} was evaluated: scored on holdout v{evaluated_holdout}, "
            f"the current holdout is v{holdout_now}"
        )
    return reasons


def champion_comparable(
    holdout_version: int, holdout_fresh: bool, champion_holdout_version: int | None
) -> str | None:
    """None when the champion may be compared with a challenger on this holdout, else why not.

    A fresh holdout holds no row any registered version trained on, so every champion is judged on
    unseen records. A holdout drawn from rows some version did train on is fair only to a champion
    trained without it (the one its training set excluded); any other champion may have trained on
    part of it, so its score would be inflated and the comparison meaningless.
    """
    if holdout_fresh or champion_holdout_version == holdout_version:
        return None
    excluded = f"holdout v{champion_holdout_version}" if champion_holdout_version else "an unrecorded holdout"
    return (
        f"holdout v{holdout_version} was drawn from rows registered versions trained on, and the champion's "
        f"training set excluded {excluded}, not this one"
    )
