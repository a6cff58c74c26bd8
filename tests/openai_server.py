"""A fake OpenAI-compatible server for tests, run on 127.0.0.1 in a background thread.

It implements ``POST /v1/chat/completions`` (plain JSON and SSE streaming with a final usage
chunk) and ``POST /v1/responses`` (plain JSON and SSE events), with realistic response bodies.
Behaviour is set per served model with :class:`ModelBehaviour`: a fixed delay and a fault
schedule indexed by how many times the same ``(model, prompt)`` pair has been requested, so a
test can say "fail twice with 429, then answer" and assert how many attempts the client made.

Usage (token counts) is a pure function of the request, so tests can recompute costs exactly:
``prompt_tokens = len(prompt.split()) + PROMPT_OVERHEAD_TOKENS`` and
``completion_tokens = ModelBehaviour.completion_tokens``.

Every request is recorded with its server-side receive time (``FakeOpenAI.requests[i]["t"]``,
epoch seconds), so pacing can be checked against a real clock. Dead endpoints for the circuit
breaker: :func:`closed_port` (connection refused) and :func:`blackhole` (connect timeout).
:func:`models_config` and :func:`stream_events` build the inputs of ``dacr.telemetry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from dacr.profile import prices_per_1m

PROMPT_OVERHEAD_TOKENS = 7
FAULTS = ("429", "500", "slow", "reset", "badjson", "400", "401", "404")
# Messages of the error faults, as OpenAI-style {"error": {"message": ...}} bodies.
FAULT_MESSAGES = {
    "429": "Rate limit reached",
    "500": "The server had an error",
    "400": "Bad request",
    "404": "The model does not exist",
}
_ERROR_CODES = {
    "429": "rate_limit_exceeded",
    "500": "server_error",
    "400": "invalid_request_error",
    "404": "model_not_found",
}


@dataclass
class ModelBehaviour:
    """How the server answers one served model.

    Parameters
    ----------
    delay_s : float
        Delay before the response (before the first chunk when streaming).
    faults : list of str or None
        Fault for the n-th request of a ``(model, prompt)`` pair (0-based); requests past the
        end of the list fall back to ``always``. ``None`` entries answer normally.
    always : str or None
        Fault for every request not covered by ``faults``; ``None`` answers normally.
    retry_after : str
        ``Retry-After`` header sent with 429 answers.
    slow_s : float
        Sleep of a ``slow`` fault, meant to exceed the client's timeout.
    completion_tokens : int
        ``completion_tokens`` reported in usage.
    answer : callable or None
        Maps the prompt to the assistant's text; default echoes a fixed sentence.
    prompt_faults : dict of str to str
        Fault for every request whose prompt contains the key (checked before ``faults``).
    message : str or None
        Error message of the 429/500/400/404 faults instead of :data:`FAULT_MESSAGES`.

    The ``401`` fault answers like a provider refusing a wrong key, and echoes the key it was
    sent in its message (as some proxies do), so tests can check that it is scrubbed.
    """

    delay_s: float = 0.0
    faults: list[str | None] = field(default_factory=list)
    always: str | None = None
    retry_after: str = "1"
    slow_s: float = 5.0
    completion_tokens: int = 20
    answer: Callable[[str], str] | None = None
    prompt_faults: dict[str, str] = field(default_factory=dict)
    message: str | None = None

    def fault_for(self, n: int, prompt: str = "") -> str | None:
        """Return the fault for the ``n``-th request (0-based) of a ``(model, prompt)`` pair."""
        matching = [f for text, f in self.prompt_faults.items() if text in prompt]
        if matching:
            fault = matching[0]
        else:
            fault = self.faults[n] if n < len(self.faults) else self.always
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; valid: {FAULTS}")
        return fault


def label_answer(prompt: str) -> str:
    """Answer a domain-label request the way a sloppy chat model would."""
    text = prompt.lower()
    if "integral" in text:
        return "Math."
    if "python" in text:
        return " Code\n"
    if "banana" in text:
        return "banana"
    if "translate" in text:
        return "Translation!"
    return "Knowledge QA"


class FakeOpenAI:
    """State and handlers of the fake server (counts, in-flight tracking, behaviours)."""

    def __init__(self, behaviours: dict[str, ModelBehaviour] | None = None) -> None:
        self.behaviours: dict[str, ModelBehaviour] = dict(behaviours or {})
        self.default = ModelBehaviour()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count()

    # -- helpers ---------------------------------------------------------------------------
    def total_requests(self, model: str | None = None) -> int:
        """Number of requests received, optionally for one served model."""
        return sum(n for (m, _), n in self.counts.items() if model is None or m == model)

    def _usage(self, prompt: str, behaviour: ModelBehaviour) -> tuple[int, int]:
        return len(prompt.split()) + PROMPT_OVERHEAD_TOKENS, behaviour.completion_tokens

    def _text(self, prompt: str, behaviour: ModelBehaviour) -> str:
        if behaviour.answer is not None:
            return behaviour.answer(prompt)
        return "The answer is 42, as computed by the fake server."

    # -- request entry ---------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        api = "responses" if request.path.endswith("/responses") else "chat"
        model = body["model"]
        prompt = _prompt_of(body, api)
        key = (model, prompt)
        n = self.counts[key]
        self.counts[key] += 1
        self.requests.append(
            {"model": model, "prompt": prompt, "api": api, "t": time.time(), "body": body}
        )
        behaviour = self.behaviours.get(model, self.default)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault = behaviour.fault_for(n, prompt)
            if fault is not None:
                return await self._fault(request, fault, behaviour, bool(body.get("stream")))
            if body.get("stream"):
                return await self._stream(request, api, model, prompt, behaviour)
            await asyncio.sleep(behaviour.delay_s)
            payload = self._payload(api, model, prompt, behaviour)
            return web.json_response(payload)
        finally:
            self.in_flight -= 1

    async def _fault(
        self, request: web.Request, fault: str, behaviour: ModelBehaviour, body_wants_stream: bool
    ) -> web.StreamResponse:
        if fault in FAULT_MESSAGES:
            message = behaviour.message or FAULT_MESSAGES[fault]
            code = _ERROR_CODES[fault]
            headers = {"Retry-After": behaviour.retry_after} if fault == "429" else None
            return web.json_response(_error(message, code), status=int(fault), headers=headers)
        if fault == "401":
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. Check your key."
            return web.json_response(_error(message, "invalid_api_key"), status=401)
        if fault == "slow":
            await asyncio.sleep(behaviour.slow_s)
            return web.json_response(_error("too late", "server_error"), status=500)
        if fault == "reset":
            _abort_with_rst(request)
            # The transport is gone; aiohttp discards whatever is returned here.
            return web.Response(status=500)
        # badjson: a 200 whose body is cut mid-object, as from a truncating proxy.
        if body_wants_stream:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(b'data: {"id": "chatcmpl-x", "choices": [\n\n')
            await resp.write_eof()
            return resp
        return web.Response(
            status=200,
            body=b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [',
            content_type="application/json",
        )

    # -- payloads --------------------------------------------------------------------------
    def _payload(self, api: str, model: str, prompt: str, behaviour: ModelBehaviour) -> dict:
        text = self._text(prompt, behaviour)
        p_tok, c_tok = self._usage(prompt, behaviour)
        if api == "responses":
            return _response_object(next(self._ids), model, text, p_tok, c_tok)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": p_tok,
                "completion_tokens": c_tok,
                "total_tokens": p_tok + c_tok,
            },
        }

    async def _stream(
        self, request: web.Request, api: str, model: str, prompt: str, behaviour: ModelBehaviour
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(behaviour.delay_s)
        text = self._text(prompt, behaviour)
        p_tok, c_tok = self._usage(prompt, behaviour)
        events = (
            _responses_events(next(self._ids), model, text, p_tok, c_tok)
            if api == "responses"
            else _chat_chunks(next(self._ids), model, text, p_tok, c_tok)
        )
        for i, (event, data) in enumerate(events):
            if i > 0:
                await asyncio.sleep(0.005)
            prefix = f"event: {event}\n" if event else ""
            await resp.write(f"{prefix}data: {json.dumps(data)}\n\n".encode())
        if api == "chat":
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _prompt_of(body: dict, api: str) -> str:
    if api == "responses":
        inp = body["input"]
        return inp if isinstance(inp, str) else json.dumps(inp)
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return users[-1] if users else ""


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def _abort_with_rst(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0 makes close() send a TCP RST instead of a FIN: a real reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _chat_chunks(i: int, model: str, text: str, p_tok: int, c_tok: int) -> list:
    base = {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict, finish: str | None) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], "usage": None}

    words = text.split(" ")
    pieces = [w if k == 0 else " " + w for k, w in enumerate(words)]
    out = [(None, chunk({"role": "assistant", "content": "", "refusal": None}, None))]
    out += [(None, chunk({"content": p}, None)) for p in pieces]
    out.append((None, chunk({}, "stop")))
    usage = {"prompt_tokens": p_tok, "completion_tokens": c_tok, "total_tokens": p_tok + c_tok}
    out.append((None, {**base, "choices": [], "usage": usage}))
    return out


def _response_object(i: int, model: str, text: str, p_tok: int, c_tok: int) -> dict:
    return {
        "id": f"resp_{i}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{i}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": p_tok,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": c_tok,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": p_tok + c_tok,
        },
    }


def _responses_events(i: int, model: str, text: str, p_tok: int, c_tok: int) -> list:
    final = _response_object(i, model, text, p_tok, c_tok)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    out = [("response.created", {"type": "response.created", "response": started})]
    for k, w in enumerate(text.split(" ")):
        delta = w if k == 0 else " " + w
        out.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": f"msg_{i}",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": delta,
                },
            )
        )
    out.append(("response.completed", {"type": "response.completed", "response": final}))
    return out


def models_config(base_url: str, served: dict[str, str], key_env: str) -> dict:
    """A models config (as in ``config/models.yaml``) serving RouterBench ids at ``base_url``
    as ``served[id]``, at RouterBench's published prices, under provider ``local``."""
    prices = prices_per_1m()
    return {
        "providers": {"local": {"base_url": base_url, "api_key_env": key_env}},
        "models": {
            rb: {
                "provider": "local",
                "served_as": name,
                "price_in_per_1m": prices[rb][0],
                "price_out_per_1m": prices[rb][1],
            }
            for rb, name in served.items()
        },
    }


def stream_events(n: int, *, ts_step: float = 0.0, ts0: float = 1_700_000_000.0) -> list[dict]:
    """``n`` request-stream events (``stream.jsonl`` rows) ``ts_step`` seconds apart."""
    return [
        {
            "ts": ts0 + i * ts_step,
            "qid": f"q{i:03d}",
            "domain": "math",
            "prompt": f"prompt number {i} about several things",
            "split": "test",
            "lat_mult": 1.0,
        }
        for i in range(n)
    ]


@dataclass
class RunningServer:
    """Handle on a running fake server."""

    state: FakeOpenAI
    base_url: str


@contextmanager
def serve(behaviours: dict[str, ModelBehaviour] | None = None) -> Iterator[RunningServer]:
    """Run a :class:`FakeOpenAI` on 127.0.0.1 (ephemeral port) in a thread; stop on exit."""
    state = FakeOpenAI(behaviours)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", state.handle)
    app.router.add_post("/v1/responses", state.handle)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def start() -> None:
        # handler_cancellation lets shutdown cut short the sleeping "slow" handlers.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-openai", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake OpenAI server did not start within 10 s")
    try:
        yield RunningServer(state=state, base_url=f"http://127.0.0.1:{holder['port']}/v1")
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def closed_port() -> Iterator[str]:
    """A ``/v1`` base URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def blackhole() -> Iterator[str]:
    """A ``/v1`` base URL on 127.0.0.1 whose connections hang until the client times out.

    A listening socket with a backlog of 0 that never accepts: once a couple of connections
    fill its queue the kernel ignores further SYNs, as a firewalled or dead host does.
    """
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}/v1"
