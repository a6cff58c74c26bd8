"""Measured latency of the RouterBench models against OpenAI-compatible endpoints.

``config/models.yaml`` aligns each RouterBench model id with a provider (base URL and the name
of the environment variable holding its API key), the id the provider serves it as, and its
prices (:mod:`dacr.telemetry.models`). :func:`collect_latency` replays a request stream against
those endpoints with the ``openai`` SDK (:mod:`~dacr.telemetry.client`), retrying and stopping
dead providers (:mod:`~dacr.telemetry.retry`), paced open-loop or as fast as allowed
(:mod:`~dacr.telemetry.schedule`). Every finished call is appended at once to a resume ledger
(:mod:`~dacr.telemetry.ledger`); the log, one row per (qid, model) joining the RouterBench
table by RouterBench id, is written only when the collection is finished
(:mod:`~dacr.telemetry.verdict`):

``qid, model, served_as, provider, ok, error, status, latency_s, ttft_s, prompt_tokens,
completion_tokens, cost_usd, attempts, sent_ts, total_s, message, base_url``

``latency_s`` is the wall clock of the successful attempt (null when ``ok`` is false),
``total_s`` the wall clock from the first send to the outcome, retries and back-off included.
``message`` is the server's error message (at most 300 characters, the API key scrubbed) of a
failed pair, ``base_url`` the endpoint the pair was measured at.
"""

from __future__ import annotations

from dacr.telemetry.client import (
    CONNECT_TIMEOUT_S,
    EmptyStreamError,
    MissingAPIKeyError,
    Reply,
    api_key_from_env,
    chat_once,
    make_client,
    responses_once,
)
from dacr.telemetry.collect import (
    APIS,
    CollectOptions,
    collect_latency,
    read_latency_log,
    request_signature,
    run_collect,
)
from dacr.telemetry.errors import MESSAGE_MAX_CHARS, classify_error, is_unreachable
from dacr.telemetry.ledger import (
    LOG_COLUMNS,
    JsonlAppender,
    compact_rows,
    default_ledger_path,
    read_jsonl_records,
)
from dacr.telemetry.models import (
    cost_usd,
    dataset_models,
    load_models_config,
    validate_models_config,
)
from dacr.telemetry.retry import (
    RETRY_AFTER_MAX_S,
    CallOutcome,
    CircuitBreaker,
    RetryPolicy,
    call_with_retries,
    retry_after_s,
)
from dacr.telemetry.schedule import (
    PACINGS,
    PER_EVENT_MODELS,
    check_events,
    pick_model,
    read_events,
    run_bounded,
    sleep_without_slot,
    stable_int,
)
from dacr.telemetry.verdict import CollectionFailedError

__all__ = [
    "APIS",
    "CONNECT_TIMEOUT_S",
    "LOG_COLUMNS",
    "MESSAGE_MAX_CHARS",
    "PACINGS",
    "PER_EVENT_MODELS",
    "RETRY_AFTER_MAX_S",
    "CallOutcome",
    "CircuitBreaker",
    "CollectOptions",
    "CollectionFailedError",
    "EmptyStreamError",
    "JsonlAppender",
    "MissingAPIKeyError",
    "Reply",
    "RetryPolicy",
    "api_key_from_env",
    "call_with_retries",
    "chat_once",
    "check_events",
    "classify_error",
    "collect_latency",
    "compact_rows",
    "cost_usd",
    "dataset_models",
    "default_ledger_path",
    "is_unreachable",
    "load_models_config",
    "make_client",
    "pick_model",
    "read_events",
    "read_jsonl_records",
    "read_latency_log",
    "request_signature",
    "responses_once",
    "retry_after_s",
    "run_bounded",
    "run_collect",
    "sleep_without_slot",
    "stable_int",
    "validate_models_config",
]
