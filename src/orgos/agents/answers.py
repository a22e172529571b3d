"""Answers as the user asked for them: an agent given ``output=Answer`` (a
pydantic class) answers with an ``Answer``, not the dict it was stored as."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pydantic

from orgos.errors import AnswerError
from orgos.store.base import RunRecord, RunStatus

#: The class of a run's answer, or None when it stays as it was stored.
AnswerType = Callable[[RunRecord], type[pydantic.BaseModel] | None]


def typed_answer(rec: RunRecord, answer_type: AnswerType) -> RunRecord:
    """``rec``, its output an instance of its answer's class when it has one
    (a copy: the kernel's record is left as it is). The journal and the
    store keep the JSON; this is only how Python hands it back."""
    if rec.kind != "agent" or rec.status is not RunStatus.SUCCEEDED:
        return rec
    cls = answer_type(rec)
    if cls is None or isinstance(rec.output, cls):
        return rec
    try:
        value = cls.model_validate(rec.output)
    except pydantic.ValidationError as exc:
        raise AnswerError(
            f"run {rec.id}: the answer of {rec.target} is not a {cls.__name__}: {exc}"
        ) from None
    return dataclasses.replace(rec, output=value)
