"""Plans and the one engine that runs them (messages: :mod:`labrc.engine.messages`).

Only the messages are imported here, so a protocol importing them pulls in numpy and nothing
else; the engine itself is :mod:`labrc.engine.engine`.
"""

from .messages import (
    BlockPlan,
    DeviceFailed,
    Emit,
    ListSweep,
    Log,
    Message,
    SelectDevice,
    Sweep,
    Wait,
)

__all__ = ["BlockPlan", "DeviceFailed", "Emit", "ListSweep", "Log", "Message", "SelectDevice", "Sweep", "Wait"]
