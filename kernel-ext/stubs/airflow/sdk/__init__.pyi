import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

class BaseOperator:
    template_fields: ClassVar[Sequence[str]]
    template_ext: ClassVar[Sequence[str]]
    ui_color: ClassVar[str]
    task_id: str
    @property
    def log(self) -> logging.Logger: ...
    def __init__(self, *, task_id: str, **kwargs: object) -> None: ...
    def execute(self, context: Mapping[str, Any]) -> object: ...
    def on_kill(self) -> None: ...
