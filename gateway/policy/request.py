"""What policy sees of a model call: a small typed request, not the pipeline's whole context.

Admission steps (the budget and the rate limits) take a ``PolicyRequest``, so policy code
depends on neither the pipeline nor the services container. Both types are built once per
admitted call, so they are msgspec Structs: a frozen dataclass's ``__init__`` (an
``object.__setattr__`` per field) costs several times more.
"""

from __future__ import annotations

import msgspec

from gateway.auth.principal import Principal
from gateway.config import ModelEntry


class PolicyRequest(msgspec.Struct, frozen=True):
    """One model call as admission sees it.

    Attributes:
        request_id: The model call's id (its llm_usage row's ``request_id``).
        created_at: ISO 8601 UTC time the client request arrived.
        principal: The caller, with the organization and group policy that applies.
        model: The catalog model the call goes to.
        prompt_chars: Characters of conversation text (the basis of a token estimate).
        max_output_tokens: The call's output bound (the worst case a budget reserves for).
    """

    request_id: str
    created_at: str
    principal: Principal
    model: ModelEntry
    prompt_chars: int
    max_output_tokens: int


class CallOutcome(msgspec.Struct, frozen=True):
    """What an admitted call turned out to use, handed to every hold it took.

    Attributes:
        status: ``success``, ``error`` or ``cancelled``.
        cost_millicents: The call's actual cost.
        input_tokens: Prompt tokens (cache reads and writes included).
        output_tokens: Completion tokens.
    """

    status: str
    cost_millicents: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
